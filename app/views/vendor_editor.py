"""The vendor editor: a vendor, its contacts, its contracts (services covered, term, fee,
renewal notice), each contract's SLA targets per priority and service-credit rule, the
underpinning-contract SLAs linked to it, and the contract warnings.

:func:`open_vendor_editor` shows it in a window of its own. Every read and write goes
through :mod:`app.services.vendors` in a :class:`~app.views.ops.QueryOp` worker; a write
runs in one transaction with the row's version as read, then the vendor is read again in
that transaction, so the window always shows what was committed. A save over someone
else's newer save is refused, explained, and the vendor read again.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import shiboken6
from PySide6.QtCore import QDate, Qt, Signal
from PySide6.QtGui import QBrush, QCloseEvent, QColor, QKeySequence, QPalette, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDateEdit,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db import Database
from app.models import utcnow
from app.services.formatting import format_date, format_duration
from app.services.scorecards import ConflictError, ScorecardError
from app.services.vendors import (
    ContactRow,
    ContractRow,
    ContractWarning,
    CreditRuleRow,
    TargetRow,
    VendorDetail,
)
from app.views import conflict_dialog, ops
from app.views.conflict_dialog import CANCEL
from app.views.theme import DANGER_TEXT, WARNING_TEXT, priority_colours
from app.views.widgets import scaled_font

#: Currencies offered (any three-letter code may be typed).
CURRENCIES = ("EUR", "USD", "GBP", "CHF", "SEK", "NOK", "DKK", "PLN")
METRIC_LABELS = {"response": "Response", "resolution": "Resolution", "availability": "Availability"}
CREDIT_LABELS = {"availability": "Availability", "sla_attainment": "SLA attainment"}
RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
ID_ROLE = Qt.ItemDataRole.UserRole + 1
VENDOR_LABELS = {"name": "Name", "category": "Category", "website": "Website",
                 "account_manager": "Account manager", "active": "Active"}  # fmt: skip
CONTRACT_LABELS = {"reference": "Reference", "title": "Title", "starts_on": "Starts on",
                   "ends_on": "Ends on", "monthly_fee": "Monthly fee", "currency": "Currency",
                   "renewal_notice_days": "Renewal notice (days)", "auto_renew": "Auto-renew",
                   "service_ids": "Services"}  # fmt: skip


# --- reading -------------------------------------------------------------------------------


@dataclass(frozen=True)
class UcSla:
    """An underpinning-contract SLA definition linked to a contract."""

    id: int
    contract_id: int
    name: str
    target: str
    duration_seconds: int
    applies_to: dict
    active: bool


@dataclass(frozen=True)
class EditorData:
    """What the editor shows: the vendor (None while new), the services to pick from,
    the contract warnings and the UC SLAs per contract."""

    vendor: VendorDetail | None
    services: tuple[tuple[int, str], ...]
    categories: tuple[str, ...] = ()
    warnings: tuple[ContractWarning, ...] = ()
    ucs: dict[int, tuple[UcSla, ...]] = field(default_factory=dict)


def load_editor(session: Session, vendor_id: int | None, today: dt.date) -> EditorData:
    """The vendor with everything the editor shows, read in ``session``."""
    from app.models import Service, SlaDefinition, Vendor
    from app.services.vendors import contract_warnings, get_vendor

    services = tuple(
        (i, n if active else f"{n} (retired)")
        for i, n, active in session.execute(
            select(Service.id, Service.name, Service.active).order_by(Service.name)
        )
    )
    categories = tuple(
        c
        for c in session.scalars(select(Vendor.category).distinct().order_by(Vendor.category))
        if c
    )
    if vendor_id is None:
        return EditorData(None, services, categories)
    detail = get_vendor(session, vendor_id)
    warnings = tuple(contract_warnings(session, today, [vendor_id]))
    ucs: dict[int, list[UcSla]] = {}
    ids = [c.id for c in detail.contracts]
    if ids:
        for d in session.scalars(
            select(SlaDefinition)
            .where(SlaDefinition.contract_id.in_(ids), SlaDefinition.kind == "UC")
            .order_by(SlaDefinition.name)
        ):
            ucs.setdefault(d.contract_id, []).append(
                UcSla(
                    d.id,
                    d.contract_id,
                    d.name,
                    d.target,
                    d.duration_seconds,
                    dict(d.applies_to or {}),
                    d.active,
                )  # fmt: skip
            )
    ucs_by_contract = {k: tuple(v) for k, v in ucs.items()}
    return EditorData(detail, services, categories, warnings, ucs_by_contract)


# --- checking what was typed ---------------------------------------------------------------


def parse_percent(text: str, what: str) -> float:
    """A percent typed as ``99.9`` or ``99.9 %``; ScorecardError naming ``what`` otherwise."""
    raw = str(text).strip().rstrip("%").strip().replace(",", ".")
    try:
        value = float(raw)
    except ValueError:
        raise ScorecardError(f"{what} must be a percent, like 99.9 — not “{text}”.") from None
    if not 0 < value <= 100:
        raise ScorecardError(f"{what} must be above 0 and at most 100 %, not {value:g} %.")
    return value


def parse_minutes(text: str) -> int:
    """``90``, ``45m``, ``4h``, ``1d 4h`` or ``2h 30m`` as minutes."""
    raw = str(text).strip().lower()
    if re.fullmatch(r"\d+", raw):
        minutes = int(raw)
    else:
        parts = re.findall(r"(\d+)\s*([dhm])", raw)
        if not parts or re.sub(r"(\d+)\s*([dhm])", "", raw).strip():
            raise ScorecardError(
                f"The target time must be like 30m, 4h, 1d 4h or a number of minutes — "
                f"not “{text}”."
            )
        unit = {"d": 1440, "h": 60, "m": 1}
        minutes = sum(int(n) * unit[u] for n, u in parts)
    if minutes <= 0:
        raise ScorecardError("The target time must be more than 0 minutes.")
    return minutes


def parse_fee(text: str) -> Decimal:
    raw = str(text).strip().replace(" ", "").replace(",", "")
    try:
        fee = Decimal(raw or "0")
    except InvalidOperation:
        raise ScorecardError(
            f"The monthly fee must be a number, like 12000 or 12000.50 — not “{text}”."
        ) from None
    if not fee.is_finite():
        raise ScorecardError(f"The monthly fee must be a number, not “{text}”.")
    if fee < 0:
        raise ScorecardError(f"The monthly fee cannot be negative ({fee}).")
    return fee


def check_contract(values: dict[str, Any]) -> dict[str, Any]:
    """The contract form's values as :func:`~app.services.vendors.save_contract` takes them,
    or ScorecardError with the first problem in a sentence."""
    if not str(values.get("reference", "")).strip():
        raise ScorecardError("The contract needs a reference, like CT-2026-014.")
    if not str(values.get("title", "")).strip():
        raise ScorecardError("The contract needs a title.")
    starts, ends = values["starts_on"], values["ends_on"]
    if ends < starts:
        raise ScorecardError(
            f"The contract ends on {format_date(ends)}, before it starts on "
            f"{format_date(starts)}: the end must be on or after the start."
        )
    currency = str(values.get("currency", "")).strip().upper()
    if len(currency) != 3 or not currency.isalpha():
        raise ScorecardError(f"The currency is a three-letter code like EUR, not “{currency}”.")
    out = dict(values)
    out["monthly_fee"] = parse_fee(values.get("monthly_fee", ""))
    out["currency"] = currency
    out["reference"] = str(values["reference"]).strip()
    out["title"] = str(values["title"]).strip()
    return out


def check_target(values: dict[str, Any]) -> dict[str, Any]:
    """A target's values (metric, priority, time text, percent text, underpinning) checked."""
    metric = values["metric"]
    if metric not in METRIC_LABELS:
        raise ScorecardError(f"A target is response, resolution or availability, not {metric}.")
    if metric == "availability":
        percent = parse_percent(values.get("percent", ""), "The availability target")
        return {"metric": metric, "priority": None, "target_minutes": None,
                "target_percent": percent, "underpinning": bool(values.get("underpinning"))}  # fmt: skip
    priority = values.get("priority")
    if priority not in (1, 2, 3, 4, 5):
        raise ScorecardError("Choose the priority (P1-P5) the target is for.")
    minutes = parse_minutes(values.get("time", ""))
    share = str(values.get("percent", "")).strip()
    percent = parse_percent(share, "The share of incidents that must meet it") if share else None
    return {"metric": metric, "priority": priority, "target_minutes": minutes,
            "target_percent": percent, "underpinning": bool(values.get("underpinning"))}  # fmt: skip


def check_credit(values: dict[str, Any]) -> dict[str, Any]:
    """The credit rule's values checked: percents within 0-100 and the cap at least the rate."""
    metric = values.get("metric", "availability")
    target = parse_percent(values.get("target", ""), "The target")
    rate = parse_percent(values.get("per_point", ""), "The credit per point")
    cap = parse_percent(values.get("cap", ""), "The cap")
    if cap < rate:
        raise ScorecardError(
            f"The cap ({cap:g} %) is below the credit per point ({rate:g} %): even one point "
            "below target would be capped. Make the cap at least the credit per point."
        )
    return {"metric": metric, "target_percent": target, "percent_per_point": rate,
            "cap_percent": cap}  # fmt: skip


def credit_example(values: dict[str, Any], fee_text: str, currency: str) -> str:
    """The credit rule in a sentence with a worked example, or what is still missing."""
    try:
        rule = check_credit(values)
    except ScorecardError as exc:
        return str(exc)
    try:
        fee = float(parse_fee(fee_text))
    except ScorecardError:
        fee = 0.0
    metric = CREDIT_LABELS.get(rule["metric"], rule["metric"]).lower()
    target, rate, cap = rule["target_percent"], rule["percent_per_point"], rule["cap_percent"]
    below = 1.0 if target >= 1 else round(target / 2, 2)
    measured = round(target - below, 3)
    percent = min(cap, below * rate)
    cap_from = cap / rate
    money = (lambda p: f" = {currency} {fee * p / 100:,.2f}") if fee > 0 else (lambda p: "")
    return (
        f"{rate:g} % of the monthly fee for each point of {metric} below {target:g} %, at most "
        f"{cap:g} %. Example: {measured:g} % is {below:g} point below target, so the credit is "
        f"{percent:g} %{money(percent)}; from {cap_from:g} points below it stays at the cap of "
        f"{cap:g} %{money(cap)}."
    )


def contract_status(c: ContractRow, today: dt.date) -> str:
    """``Upcoming``, ``Active``, ``Notice due 2026-12-01`` or ``Ended``, in words."""
    if c.starts_on > today:
        return "Upcoming"
    if c.ends_on < today:
        return "Ended"
    notice = c.ends_on - dt.timedelta(days=c.renewal_notice_days)
    if notice < today:
        return "Renews (notice passed)" if c.auto_renew else "Ending (notice passed)"
    return "Active, auto-renews" if c.auto_renew else "Active"


def target_text(t: TargetRow) -> str:
    if t.metric == "availability":
        return f"{t.target_percent:g} %"
    return format_duration((t.target_minutes or 0) * 60)


# --- questions (module functions, so tests can answer them) ---------------------------------


def confirm(parent: QWidget, text: str) -> bool:
    box = QMessageBox(
        QMessageBox.Icon.Question, "Remove", text,
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, parent,
    )  # fmt: skip
    box.setDefaultButton(QMessageBox.StandardButton.No)
    return box.exec() == QMessageBox.StandardButton.Yes


def tell(parent: QWidget, title: str, text: str) -> None:
    QMessageBox(QMessageBox.Icon.Warning, title, text, QMessageBox.StandardButton.Ok, parent).exec()


# --- small dialogs --------------------------------------------------------------------------


def ask_discard(parent: QWidget, parts: Sequence[str]) -> bool:
    """Whether to close and lose the unsaved ``parts`` (a module function so tests answer)."""
    what = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    box = QMessageBox(parent)
    box.setWindowTitle("Unsaved changes")
    box.setIcon(QMessageBox.Icon.Question)
    box.setText(f"Your changes to {what} are not saved.")
    box.setInformativeText("Close anyway and lose them, or keep editing and save them first?")
    discard = box.addButton("Close and lose them", QMessageBox.ButtonRole.DestructiveRole)
    keep = box.addButton("Keep editing", QMessageBox.ButtonRole.RejectRole)
    box.setDefaultButton(keep)
    box.exec()
    return box.clickedButton() is discard


class _CheckedDialog(QDialog):
    """A form dialog whose OK checks the values first and shows the problem above them."""

    def __init__(self, title: str, parent: QWidget | None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.problem = QLabel()
        self.problem.setObjectName("problem")
        self.problem.setWordWrap(True)
        self.problem.setStyleSheet(f"color: {DANGER_TEXT};")
        self.problem.hide()
        self.form = QFormLayout()
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self._try_accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.problem)
        layout.addLayout(self.form)
        layout.addWidget(self.buttons)

    def check(self) -> None:  # raise ScorecardError
        """Overridden: raise ScorecardError when the values are not acceptable."""

    def _try_accept(self) -> None:
        try:
            self.check()
        except ScorecardError as exc:
            self.problem.setText(str(exc))
            self.problem.show()
            return
        self.accept()


class ContactDialog(_CheckedDialog):
    """A contact's name, role, e-mail and phone."""

    def __init__(self, contact: ContactRow | None, parent: QWidget | None = None) -> None:
        super().__init__("New contact" if contact is None else f"Contact {contact.name}", parent)
        self.name = QLineEdit(contact.name if contact else "")
        self.role = QLineEdit(contact.role if contact else "")
        self.role.setPlaceholderText("e.g. Service delivery manager")
        self.email = QLineEdit((contact.email or "") if contact else "")
        self.phone = QLineEdit((contact.phone or "") if contact else "")
        for label, widget in (("Name", self.name), ("Role", self.role),
                              ("E-mail", self.email), ("Phone", self.phone)):  # fmt: skip
            self.form.addRow(label, widget)
        self.setMinimumWidth(380)

    def values(self) -> dict[str, str]:
        return {"name": self.name.text().strip(), "role": self.role.text().strip(),
                "email": self.email.text().strip(), "phone": self.phone.text().strip()}  # fmt: skip

    def check(self) -> None:
        check_contact(self.values())


def check_contact(values: dict[str, str]) -> None:
    if not values.get("name"):
        raise ScorecardError("The contact needs a name.")
    email = values.get("email") or ""
    if email and ("@" not in email or " " in email):
        raise ScorecardError(f"“{email}” is not an e-mail address.")


class TargetDialog(_CheckedDialog):
    """One SLA target: response/resolution time per priority with the share that must meet
    it, or an availability %; and whether it underpins our own SLA (a UC target)."""

    def __init__(self, target: TargetRow | None, parent: QWidget | None = None) -> None:
        super().__init__("New SLA target" if target is None else "SLA target", parent)
        self.measure = QComboBox()
        for key, label in METRIC_LABELS.items():
            self.measure.addItem(label, key)
        self.priority = QComboBox()
        for p in range(1, 6):
            self.priority.addItem(f"P{p}", p)
            bg, fg = priority_colours(p)
            self.priority.setItemData(p - 1, QBrush(QColor(bg)), Qt.ItemDataRole.DecorationRole)
        self.time = QLineEdit()
        self.time.setPlaceholderText("e.g. 30m, 4h, 1d 4h")
        self.percent = QLineEdit()
        self.underpinning = QCheckBox("Underpinning contract: backs our own SLA")
        self.underpinning.setChecked(True)
        self.form.addRow("Measure", self.measure)
        self.form.addRow("Priority", self.priority)
        self.form.addRow("Target time", self.time)
        self.percent_label = QLabel()
        self.form.addRow(self.percent_label, self.percent)
        self.form.addRow("", self.underpinning)
        if target is not None:
            self.measure.setCurrentIndex(self.measure.findData(target.metric))
            if target.priority:
                self.priority.setCurrentIndex(self.priority.findData(target.priority))
            if target.target_minutes:
                self.time.setText(format_duration(target.target_minutes * 60))
            if target.target_percent is not None:
                self.percent.setText(f"{target.target_percent:g}")
            self.underpinning.setChecked(target.underpinning)
        self.measure.currentIndexChanged.connect(self._metric_changed)
        self._metric_changed()
        self.setMinimumWidth(420)

    def _metric_changed(self) -> None:
        availability = self.measure.currentData() == "availability"
        self.priority.setEnabled(not availability)
        self.time.setEnabled(not availability)
        self.percent_label.setText("Availability %" if availability else "Met by (% of incidents)")
        self.percent.setPlaceholderText("e.g. 99.9" if availability else "e.g. 95 (optional)")

    def values(self) -> dict[str, Any]:
        return {"metric": self.measure.currentData(), "priority": self.priority.currentData(),
                "time": self.time.text(), "percent": self.percent.text(),
                "underpinning": self.underpinning.isChecked()}  # fmt: skip

    def check(self) -> None:
        check_target(self.values())


# --- the editor -----------------------------------------------------------------------------


def _compact(table: QTableWidget) -> None:
    table.setAlternatingRowColors(True)
    table.verticalHeader().hide()
    table.verticalHeader().setDefaultSectionSize(table.fontMetrics().height() + 8)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setWordWrap(False)
    table.horizontalHeader().setHighlightSections(False)


def _item(text: str, ident: Any = None, right: bool = False, tip: str = "") -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    if ident is not None:
        item.setData(ID_ROLE, ident)
    if right:
        item.setTextAlignment(RIGHT)
    if tip:
        item.setToolTip(tip)
    return item


def _qdate(day: dt.date) -> QDate:
    return QDate(day.year, day.month, day.day)


def _pydate(q: QDate) -> dt.date:
    return dt.date(q.year(), q.month(), q.day())


def _date_edit() -> QDateEdit:
    edit = QDateEdit()
    edit.setCalendarPopup(True)
    edit.setDisplayFormat("yyyy-MM-dd")
    return edit


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _quiet(label: QLabel) -> QLabel:
    label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
    label.setWordWrap(True)
    return label


class VendorEditor(QWidget):
    """A vendor with its contacts and contracts, each saved on its own with a version check."""

    #: The vendor's id after every committed save.
    saved = Signal(int)
    #: The vendor was read (after opening, a save or a conflict).
    loaded = Signal()

    def __init__(
        self,
        db: Database,
        vendor_id: int | None = None,
        parent: QWidget | None = None,
        *,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.db = db
        self.vendor_id = vendor_id
        self.clock = clock
        self.data: EditorData | None = None
        self.busy = False
        self.last_message = ""
        self._contract_id: int | None = None  # the contract in the form (None: new)
        self._build()
        self.setWindowTitle("New vendor" if vendor_id is None else "Vendor")
        self.resize(1180, 860)
        self.reload()

    # Building

    def _build(self) -> None:
        self.title = QLabel("New vendor")
        self.title.setObjectName("title")
        self.title.setFont(scaled_font(self.title, 1.5, bold=True))
        self.subtitle = _quiet(QLabel())
        self.subtitle.setWordWrap(False)
        head = QHBoxLayout()
        head.addWidget(self.title)
        head.addWidget(self.subtitle, 1, Qt.AlignmentFlag.AlignBottom)

        self.warnings = QFrame()
        self.warnings.setObjectName("warnings")
        self.warnings.setFrameShape(QFrame.Shape.StyledPanel)
        self.warnings_layout = QVBoxLayout(self.warnings)
        self.warnings_layout.setContentsMargins(10, 6, 10, 6)
        self.warnings_layout.setSpacing(3)
        self.warnings.hide()

        self.problem = QLabel()
        self.problem.setObjectName("problem")
        self.problem.setWordWrap(True)
        self.problem.setStyleSheet(f"color: {DANGER_TEXT}; font-weight: bold;")
        self.problem.hide()

        self.tabs = QTabWidget()
        self.tabs.addTab(self._build_vendor_tab(), "Vendor")
        self.tabs.addTab(self._build_contacts_tab(), "Contacts")
        self.tabs.addTab(self._build_contracts_tab(), "Contracts")

        self.status = _quiet(QLabel("Loading…"))
        self.status.setObjectName("status")
        self.close_button = QPushButton("Close")
        self.close_button.clicked.connect(self.close)
        foot = QHBoxLayout()
        foot.addWidget(self.status, 1)
        foot.addWidget(self.close_button)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 12, 16, 10)
        layout.setSpacing(8)
        layout.addLayout(head)
        layout.addWidget(self.warnings)
        layout.addWidget(self.problem)
        layout.addWidget(self.tabs, 1)
        layout.addLayout(foot)
        QShortcut(QKeySequence.StandardKey.Save, self, self._save_current_tab)
        QShortcut(QKeySequence("F5"), self, self.reload)

    def _build_vendor_tab(self) -> QWidget:
        page = QWidget()
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.name = QLineEdit()
        self.name.setObjectName("name")
        self.name.setMaxLength(120)
        self.category = QComboBox()
        self.category.setEditable(True)
        self.category.setObjectName("category")
        self.category.lineEdit().setPlaceholderText("e.g. Network, Cloud, Service desk")
        self.website = QLineEdit()
        self.website.setPlaceholderText("https://…")
        self.account_manager = QLineEdit()
        self.account_manager.setPlaceholderText("Who owns the relationship at the vendor")
        self.active = QComboBox()
        self.active.setObjectName("active")
        self.active.addItem("Active — scored and warned about", True)
        self.active.addItem("Inactive — kept for history", False)
        form.addRow("Name", self.name)
        form.addRow("Category", self.category)
        form.addRow("Status", self.active)
        form.addRow("Account manager", self.account_manager)
        form.addRow("Website / notes", self.website)
        self.save_vendor_button = QPushButton("Save vendor")
        self.save_vendor_button.setObjectName("saveVendor")
        self.save_vendor_button.setDefault(True)
        self.save_vendor_button.clicked.connect(lambda: self.save_vendor())
        self.vendor_hint = _quiet(QLabel())
        buttons = QHBoxLayout()
        buttons.addWidget(self.vendor_hint, 1)
        buttons.addWidget(self.save_vendor_button)
        box = QGroupBox("Vendor")
        box.setLayout(form)
        self.summary = _quiet(QLabel())
        self.summary.setObjectName("summary")
        column = QWidget()
        column.setMaximumWidth(760)
        inner = QVBoxLayout(column)
        inner.setContentsMargins(0, 0, 0, 0)
        inner.addWidget(box)
        inner.addLayout(buttons)
        inner.addWidget(self.summary)
        layout = QVBoxLayout(page)
        layout.addWidget(column)
        layout.addStretch(1)
        return page

    def _build_contacts_tab(self) -> QWidget:
        page = QWidget()
        self.contacts = QTableWidget(0, 4)
        self.contacts.setObjectName("contacts")
        self.contacts.setHorizontalHeaderLabels(["Name", "Role", "E-mail", "Phone"])
        _compact(self.contacts)
        self.contacts.setSortingEnabled(True)
        self.contacts.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        header = self.contacts.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.contacts.doubleClicked.connect(lambda _i: self.edit_contact())
        self.contacts.itemSelectionChanged.connect(self._update_buttons)
        self.contacts_empty = _quiet(QLabel("No contacts yet — Add contact… to record one."))
        self.add_contact_button = QPushButton("Add contact…")
        self.add_contact_button.clicked.connect(lambda: self.add_contact())
        self.edit_contact_button = QPushButton("Edit…")
        self.edit_contact_button.clicked.connect(lambda: self.edit_contact())
        self.remove_contact_button = QPushButton("Remove")
        self.remove_contact_button.clicked.connect(lambda: self.remove_contact())
        buttons = QHBoxLayout()
        buttons.addWidget(self.contacts_empty)
        buttons.addStretch(1)
        for b in (self.add_contact_button, self.edit_contact_button, self.remove_contact_button):
            buttons.addWidget(b)
        layout = QVBoxLayout(page)
        layout.addWidget(self.contacts, 1)
        layout.addLayout(buttons)
        return page

    def _build_contracts_tab(self) -> QWidget:
        page = QWidget()
        self.contract_list = QTableWidget(0, 6)
        self.contract_list.setObjectName("contractList")
        self.contract_list.setHorizontalHeaderLabels(
            ["Reference", "Title", "Starts", "Ends", "Monthly fee", "Status"]
        )
        _compact(self.contract_list)
        header = self.contract_list.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.contract_list.model().setHeaderData(
            4, Qt.Orientation.Horizontal, int(RIGHT), Qt.ItemDataRole.TextAlignmentRole
        )
        rows = self.contract_list.verticalHeader().defaultSectionSize()
        self.contract_list.setFixedHeight(rows * 4 + header.sizeHint().height() + 4)
        self.contract_list.itemSelectionChanged.connect(self._contract_selected)
        self.new_contract_button = QPushButton("New contract")
        self.new_contract_button.clicked.connect(lambda: self.new_contract())
        self.contracts_empty = _quiet(QLabel())
        top = QHBoxLayout()
        top.addWidget(self.contracts_empty, 1)
        top.addWidget(self.new_contract_button)

        # The contract's own fields.
        self.reference = QLineEdit()
        self.reference.setObjectName("reference")
        self.reference.setPlaceholderText("e.g. CT-2026-014")
        self.contract_title = QLineEdit()
        self.contract_title.setObjectName("contractTitle")
        self.starts_on = _date_edit()
        self.starts_on.setObjectName("startsOn")
        self.ends_on = _date_edit()
        self.ends_on.setObjectName("endsOn")
        term = QHBoxLayout()
        term.addWidget(self.starts_on)
        term.addWidget(QLabel("to"))
        term.addWidget(self.ends_on)
        self.term_words = _quiet(QLabel())
        self.term_words.setWordWrap(False)
        term.addWidget(self.term_words, 1)
        self.fee = QLineEdit()
        self.fee.setObjectName("fee")
        self.fee.setAlignment(RIGHT)
        self.fee.setPlaceholderText("0.00")
        self.currency = QComboBox()
        self.currency.setEditable(True)
        self.currency.addItems(CURRENCIES)
        self.currency.setMaximumWidth(90)
        money = QHBoxLayout()
        money.addWidget(self.fee, 1)
        money.addWidget(self.currency)
        self.notice_days = QSpinBox()
        self.notice_days.setRange(0, 3650)
        self.notice_days.setSuffix(" days' notice")
        self.auto_renew = QCheckBox("Renews automatically")
        renewal = QHBoxLayout()
        renewal.addWidget(self.notice_days)
        renewal.addWidget(self.auto_renew)
        renewal.addStretch(1)
        self.renewal_words = _quiet(QLabel())
        self.renewal_words.setObjectName("renewal")
        self.services = QListWidget()
        self.services.setObjectName("services")
        self.services.setFixedHeight(118)
        self.services.setToolTip("Tick every service the contract covers")
        self.service_filter = QLineEdit()
        self.service_filter.setPlaceholderText("Filter services…")
        self.service_filter.setClearButtonEnabled(True)
        self.service_filter.textChanged.connect(self._filter_services)
        self.contract_status = QLabel()
        self.contract_status.setObjectName("contractStatus")
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.addRow("Reference", self.reference)
        form.addRow("Title", self.contract_title)
        form.addRow("Term", term)
        form.addRow("Monthly fee", money)
        form.addRow("Renewal", renewal)
        form.addRow("", self.renewal_words)
        form.addRow("Services covered", self.service_filter)
        form.addRow("", self.services)
        form.addRow("Status", self.contract_status)
        self.save_contract_button = QPushButton("Save contract")
        self.save_contract_button.setObjectName("saveContract")
        self.save_contract_button.clicked.connect(lambda: self.save_contract())
        save_row = QHBoxLayout()
        save_row.addStretch(1)
        save_row.addWidget(self.save_contract_button)
        form.addRow(save_row)
        self.contract_box = QGroupBox("New contract")
        self.contract_box.setLayout(form)
        for w in (self.starts_on, self.ends_on):
            w.dateChanged.connect(self._update_contract_words)
        self.notice_days.valueChanged.connect(self._update_contract_words)
        self.auto_renew.toggled.connect(self._update_contract_words)
        self.fee.textChanged.connect(self._update_credit_example)
        self.currency.currentTextChanged.connect(self._update_credit_example)

        # SLA targets.
        self.targets = QTableWidget(0, 5)
        self.targets.setObjectName("targets")
        self.targets.setHorizontalHeaderLabels(["Priority", "Measure", "Target", "Met by", "UC"])
        _compact(self.targets)
        th = self.targets.horizontalHeader()
        th.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        th.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        for col in (2, 3):
            self.targets.model().setHeaderData(
                col, Qt.Orientation.Horizontal, int(RIGHT), Qt.ItemDataRole.TextAlignmentRole
            )
        self.targets.model().setHeaderData(
            4, Qt.Orientation.Horizontal,
            "Underpinning contract target: the vendor's part of our own SLA",
            Qt.ItemDataRole.ToolTipRole,
        )  # fmt: skip
        self.targets.doubleClicked.connect(lambda _i: self.edit_target())
        self.targets.itemSelectionChanged.connect(self._update_buttons)
        self.targets_empty = _quiet(QLabel())
        self.add_target_button = QPushButton("Add target…")
        self.add_target_button.clicked.connect(lambda: self.add_target())
        self.edit_target_button = QPushButton("Edit…")
        self.edit_target_button.clicked.connect(lambda: self.edit_target())
        self.remove_target_button = QPushButton("Remove")
        self.remove_target_button.clicked.connect(lambda: self.remove_target())
        tb = QHBoxLayout()
        tb.addWidget(self.targets_empty, 1)
        for b in (self.add_target_button, self.edit_target_button, self.remove_target_button):
            tb.addWidget(b)
        targets_box = QGroupBox("SLA targets")
        tl = QVBoxLayout(targets_box)
        tl.addWidget(self.targets, 1)
        tl.addLayout(tb)

        # Service credit.
        self.credit_metric = QComboBox()
        self.credit_metric.setObjectName("creditMetric")
        for key, label in CREDIT_LABELS.items():
            self.credit_metric.addItem(label, key)
        self.credit_target = QLineEdit()
        self.credit_target.setObjectName("creditTarget")
        self.credit_rate = QLineEdit()
        self.credit_rate.setObjectName("creditRate")
        self.credit_cap = QLineEdit()
        self.credit_cap.setObjectName("creditCap")
        for w, hint in ((self.credit_target, "99.9"), (self.credit_rate, "5"),
                        (self.credit_cap, "20")):  # fmt: skip
            w.setAlignment(RIGHT)
            w.setPlaceholderText(hint)
            w.setMaximumWidth(80)
            w.textChanged.connect(self._update_credit_example)
        self.credit_metric.currentIndexChanged.connect(self._update_credit_example)
        rule = QHBoxLayout()
        rule.addWidget(self.credit_rate)
        rule.addWidget(QLabel("% of the monthly fee per point of"))
        rule.addWidget(self.credit_metric)
        rule.addWidget(QLabel("below"))
        rule.addWidget(self.credit_target)
        rule.addWidget(QLabel("%, capped at"))
        rule.addWidget(self.credit_cap)
        rule.addWidget(QLabel("%"))
        rule.addStretch(1)
        self.credit_example = QLabel()
        self.credit_example.setObjectName("creditExample")
        self.credit_example.setWordWrap(True)
        self.save_credit_button = QPushButton("Save credit rule")
        self.save_credit_button.setObjectName("saveCredit")
        self.save_credit_button.clicked.connect(lambda: self.save_credit_rule())
        cb = QHBoxLayout()
        cb.addWidget(self.credit_example, 1)
        cb.addWidget(self.save_credit_button, 0, Qt.AlignmentFlag.AlignBottom)
        credit_box = QGroupBox("Service credit")
        cl = QVBoxLayout(credit_box)
        cl.addLayout(rule)
        cl.addLayout(cb)

        # Underpinning-contract SLA definitions.
        self.ucs = QTableWidget(0, 3)
        self.ucs.setObjectName("ucs")
        self.ucs.setHorizontalHeaderLabels(["UC SLA definition", "Clock", "Applies to"])
        _compact(self.ucs)
        uh = self.ucs.horizontalHeader()
        uh.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        uh.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.ucs.setFixedHeight(self.ucs.verticalHeader().defaultSectionSize() * 3 + 30)
        self.ucs_empty = _quiet(QLabel())
        uc_box = QGroupBox("Underpinning-contract SLAs (clocks run on incidents)")
        ul = QVBoxLayout(uc_box)
        ul.addWidget(self.ucs)
        ul.addWidget(self.ucs_empty)

        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.addWidget(targets_box, 1)
        rl.addWidget(uc_box)
        self.details = QWidget()
        dl = QHBoxLayout(self.details)
        dl.setContentsMargins(0, 0, 0, 0)
        dl.addWidget(self.contract_box, 5)
        dl.addWidget(right, 4)
        self._contract_parts = (targets_box, credit_box, uc_box)

        inner = QWidget()
        layout = QVBoxLayout(inner)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.contract_list)
        layout.addWidget(self.details, 1)
        layout.addWidget(credit_box)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(inner)
        outer = QVBoxLayout(page)
        outer.setContentsMargins(6, 6, 6, 6)
        outer.addWidget(scroll)
        return page

    # State

    def today(self) -> dt.date:
        return self.clock().astimezone(dt.UTC).date()

    @property
    def vendor(self) -> VendorDetail | None:
        return self.data.vendor if self.data else None

    def contract(self) -> ContractRow | None:
        """The contract in the form (None while a new one is typed)."""
        if self.vendor is None or self._contract_id is None:
            return None
        return next((c for c in self.vendor.contracts if c.id == self._contract_id), None)

    def is_idle(self) -> bool:
        return not self.busy and self.data is not None

    # Reading

    def reload(self) -> None:
        """Read the vendor again (in the background)."""
        vendor_id, today = self.vendor_id, self.today()
        self._set_busy(True)
        self.status.setText("Reading…")
        ops.QueryOp(
            parent=self, db=self.db,
            op=lambda session, _p: load_editor(session, vendor_id, today),
            success=self._arrived,
        ).failure(self._load_failed).run_in_background()  # fmt: skip

    def _load_failed(self, exc: BaseException) -> None:
        self._set_busy(False)
        self.status.setText(f"Could not read the vendor: {exc}")
        ops.show_error(self, exc)

    def _arrived(self, data: EditorData) -> None:
        self._set_busy(False)
        self.data = data
        v = data.vendor
        if v is not None:
            self.vendor_id = v.id
        self.category.blockSignals(True)
        self.category.clear()
        self.category.addItems(list(data.categories))
        self.category.blockSignals(False)
        self._fill_vendor(v)
        self._fill_contacts(v.contacts if v else ())
        self._fill_services(data.services)
        self._fill_contracts(v.contracts if v else ())
        self._fill_warnings(data.warnings)
        if self._contract_id is not None and self.contract() is None:
            self._contract_id = None
        if self._contract_id is None and v is not None and v.contracts:
            self._contract_id = self._default_contract(v.contracts)
        self._select_contract_row(self._contract_id)
        self._show_contract(self.contract())
        if v is None:
            self.status.setText("A new vendor: save it, then add contacts and contracts.")
        elif not self.status.text() or self.status.text() == "Reading…":
            self.status.setText(f"Version {v.version}")
        self._update_buttons()
        self.loaded.emit()

    def _default_contract(self, contracts: Sequence[ContractRow]) -> int:
        today = self.today()
        current = [c for c in contracts if c.starts_on <= today <= c.ends_on]
        return (current or sorted(contracts, key=lambda c: c.ends_on))[-1].id

    def _fill_vendor(self, v: VendorDetail | None) -> None:
        self.title.setText(v.name if v else "New vendor")
        self.setWindowTitle(f"{v.name} — vendor" if v else "New vendor")
        self.name.setText(v.name if v else "")
        self.category.setCurrentText(v.category if v else "")
        self.website.setText((v.website or "") if v else "")
        self.account_manager.setText((v.account_manager or "") if v else "")
        self.active.setCurrentIndex(0 if v is None or v.active else 1)
        if v is None:
            self.subtitle.setText("")
            self.summary.setText("")
            self.vendor_hint.setText("Contacts and contracts can be added once it is saved.")
            return
        self.vendor_hint.setText("")
        today = self.today()
        current = [c for c in v.contracts if c.starts_on <= today <= c.ends_on]
        fees: dict[str, Decimal] = {}
        for c in current:
            fees[c.currency] = fees.get(c.currency, Decimal(0)) + c.monthly_fee
        fee_text = " + ".join(f"{cur} {amt:,.2f}" for cur, amt in sorted(fees.items())) or "—"
        state = "" if v.active else " · inactive"
        self.subtitle.setText(
            f"{v.category or 'no category'}{state} · {_plural(len(v.contacts), 'contact')} · "
            f"{_plural(len(v.contracts), 'contract')}"
        )
        self.summary.setText(
            f"{_plural(len(current), 'current contract')}, monthly fees {fee_text}. "
            f"Version {v.version}: a save over someone else's newer save is refused."
        )

    def _fill_contacts(self, contacts: Sequence[ContactRow]) -> None:
        self.contacts.setSortingEnabled(False)
        self.contacts.setRowCount(0)
        for c in contacts:
            r = self.contacts.rowCount()
            self.contacts.insertRow(r)
            self.contacts.setItem(r, 0, _item(c.name, c.id))
            self.contacts.setItem(r, 1, _item(c.role or ""))
            self.contacts.setItem(r, 2, _item(c.email or ""))
            self.contacts.setItem(r, 3, _item(c.phone or ""))
        self.contacts.setSortingEnabled(True)
        self.contacts_empty.setVisible(not contacts)
        self.tabs.setTabText(1, f"Contacts ({len(contacts)})" if contacts else "Contacts")

    def _fill_services(self, services: Sequence[tuple[int, str]]) -> None:
        self.services.clear()
        for ident, name in services:
            item = QListWidgetItem(name)
            item.setData(ID_ROLE, ident)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Unchecked)
            self.services.addItem(item)

    def _fill_contracts(self, contracts: Sequence[ContractRow]) -> None:
        today = self.today()
        self.contract_list.blockSignals(True)
        self.contract_list.setRowCount(0)
        for c in sorted(contracts, key=lambda c: (c.starts_on, c.reference)):
            r = self.contract_list.rowCount()
            self.contract_list.insertRow(r)
            status = contract_status(c, today)
            self.contract_list.setItem(r, 0, _item(c.reference, c.id))
            self.contract_list.setItem(r, 1, _item(c.title, tip=", ".join(c.services)))
            self.contract_list.setItem(r, 2, _item(format_date(c.starts_on)))
            self.contract_list.setItem(r, 3, _item(format_date(c.ends_on)))
            self.contract_list.setItem(r, 4, _item(f"{c.currency} {c.monthly_fee:,.2f}",
                                                   right=True))  # fmt: skip
            item = _item(status)
            if "passed" in status or status == "Ended":
                item.setForeground(QBrush(QColor(DANGER_TEXT if "Ending" in status
                                                 else WARNING_TEXT)))  # fmt: skip
            self.contract_list.setItem(r, 5, item)
        self.contract_list.blockSignals(False)
        n = len(contracts)
        self.contracts_empty.setText(
            "No contracts yet — New contract to record the first." if not n
            else "Select a contract to edit it, its SLA targets and its credit rule."
        )  # fmt: skip
        self.tabs.setTabText(2, f"Contracts ({n})" if n else "Contracts")

    def _fill_warnings(self, warnings: Sequence[ContractWarning]) -> None:
        from app.views.vendor_widgets import warning_icon

        while self.warnings_layout.count():
            item = self.warnings_layout.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        if self.vendor is None:
            self.warnings.hide()
            return
        if not warnings:
            ok = _quiet(QLabel("No contract needs a decision: no end, renewal or notice date "
                               "is near, and every current contract has targets and a "
                               "credit rule."))  # fmt: skip
            self.warnings_layout.addWidget(ok)
        icon = warning_icon(14).pixmap(14, 14)
        for w in warnings:
            line = QWidget()
            h = QHBoxLayout(line)
            h.setContentsMargins(0, 0, 0, 0)
            mark = QLabel()
            mark.setPixmap(icon)
            h.addWidget(mark, 0, Qt.AlignmentFlag.AlignTop)
            text = QLabel(w.message)
            text.setObjectName(f"warning_{w.kind}")
            text.setWordWrap(True)
            if w.severity == "high":
                text.setStyleSheet(f"color: {DANGER_TEXT};")
            elif w.severity == "medium":
                text.setStyleSheet(f"color: {WARNING_TEXT};")
            h.addWidget(text, 1)
            self.warnings_layout.addWidget(line)
        self.warnings.show()

    def warning_texts(self) -> list[str]:
        """The warnings shown, as text (for tests)."""
        return [label.text() for label in self.warnings.findChildren(QLabel)
                if label.objectName().startswith("warning_")]  # fmt: skip

    # The contract form

    def _select_contract_row(self, contract_id: int | None) -> None:
        self.contract_list.blockSignals(True)
        self.contract_list.clearSelection()
        for r in range(self.contract_list.rowCount()):
            if self.contract_list.item(r, 0).data(ID_ROLE) == contract_id:
                self.contract_list.selectRow(r)
                break
        self.contract_list.blockSignals(False)

    def _contract_selected(self) -> None:
        rows = self.contract_list.selectionModel().selectedRows()
        if not rows:
            return
        self._contract_id = self.contract_list.item(rows[0].row(), 0).data(ID_ROLE)
        self.problem.hide()
        self._show_contract(self.contract())

    def select_contract(self, reference: str) -> None:
        """Show the contract ``reference`` in the form."""
        c = next(
            c for c in (self.vendor.contracts if self.vendor else ()) if c.reference == reference
        )
        self._contract_id = c.id
        self._select_contract_row(c.id)
        self._show_contract(c)

    def new_contract(self) -> None:
        """Clear the form for a new contract (starting today, for a year)."""
        self._contract_id = None
        self._select_contract_row(None)
        self._show_contract(None)
        self.tabs.setCurrentIndex(2)
        self.reference.setFocus()

    def _show_contract(self, c: ContractRow | None) -> None:
        today = self.today()
        self.contract_box.setTitle(f"Contract {c.reference}" if c else "New contract")
        self.reference.setText(c.reference if c else "")
        self.contract_title.setText(c.title if c else "")
        starts = c.starts_on if c else today
        ends = c.ends_on if c else dt.date(today.year + 1, today.month, 1) - dt.timedelta(days=1)
        self.starts_on.setDate(_qdate(starts))
        self.ends_on.setDate(_qdate(ends))
        self.fee.setText(f"{c.monthly_fee:.2f}" if c else "")
        self.currency.setCurrentText(c.currency if c else "EUR")
        self.notice_days.setValue(c.renewal_notice_days if c else 90)
        self.auto_renew.setChecked(c.auto_renew if c else False)
        chosen = set(c.service_ids) if c else set()
        for i in range(self.services.count()):
            item = self.services.item(i)
            checked = item.data(ID_ROLE) in chosen
            item.setCheckState(Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)
        # Ticked services first, so what the contract covers shows without scrolling.
        self._sort_services()
        self.contract_status.setText(contract_status(c, today) if c else "Not saved yet")
        self._fill_targets(c.targets if c else ())
        rule = c.credit_rules[0] if c and c.credit_rules else None
        self._show_credit(rule)
        self._fill_ucs(self.data.ucs.get(c.id, ()) if c and self.data else ())
        for part in self._contract_parts:
            part.setEnabled(c is not None)
        self._update_contract_words()
        self._update_buttons()

    def _sort_services(self) -> None:
        items = [self.services.takeItem(0) for _ in range(self.services.count())]
        items.sort(key=lambda it: (it.checkState() != Qt.CheckState.Checked, it.text().casefold()))
        for it in items:
            self.services.addItem(it)
        self._filter_services(self.service_filter.text())

    def _filter_services(self, text: str) -> None:
        needle = text.strip().casefold()
        for i in range(self.services.count()):
            item = self.services.item(i)
            item.setHidden(bool(needle) and needle not in item.text().casefold())

    def checked_services(self) -> list[int]:
        return [self.services.item(i).data(ID_ROLE) for i in range(self.services.count())
                if self.services.item(i).checkState() == Qt.CheckState.Checked]  # fmt: skip

    def set_services(self, names: Sequence[str]) -> None:
        """Tick exactly the services called ``names`` (for tests and scripts)."""
        wanted = set(names)
        for i in range(self.services.count()):
            item = self.services.item(i)
            on = item.text() in wanted
            item.setCheckState(Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)

    def _update_contract_words(self) -> None:
        starts, ends = _pydate(self.starts_on.date()), _pydate(self.ends_on.date())
        if ends < starts:
            self.term_words.setText("ends before it starts")
            self.term_words.setStyleSheet(f"color: {DANGER_TEXT};")
            self.renewal_words.setText("")
            return
        self.term_words.setStyleSheet("")
        months = round(((ends - starts).days + 1) / 30.44)
        self.term_words.setText(f"{months} months" if months % 12 else f"{months // 12} years")
        notice = ends - dt.timedelta(days=self.notice_days.value())
        days = (notice - self.today()).days
        when = f"in {days} days" if days >= 0 else f"{-days} days ago"
        if self.auto_renew.isChecked():
            words = (f"Renews on {format_date(ends + dt.timedelta(days=1))} unless notice is "
                     f"given by {format_date(notice)} ({when}).")  # fmt: skip
        else:
            words = (f"Ends on {format_date(ends)}; decide on renewal by "
                     f"{format_date(notice)} ({when}).")  # fmt: skip
        self.renewal_words.setText(words)

    def contract_values(self) -> dict[str, Any]:
        """What the contract form holds, unchecked."""
        return {
            "reference": self.reference.text(),
            "title": self.contract_title.text(),
            "starts_on": _pydate(self.starts_on.date()),
            "ends_on": _pydate(self.ends_on.date()),
            "monthly_fee": self.fee.text(),
            "currency": self.currency.currentText(),
            "renewal_notice_days": self.notice_days.value(),
            "auto_renew": self.auto_renew.isChecked(),
            "service_ids": self.checked_services(),
        }

    def set_contract_values(self, **values: Any) -> None:
        """Fill the contract form (for tests and scripts): the keys of :meth:`contract_values`
        plus ``services`` (names)."""
        setters = {
            "reference": self.reference.setText, "title": self.contract_title.setText,
            "starts_on": lambda d: self.starts_on.setDate(_qdate(d)),
            "ends_on": lambda d: self.ends_on.setDate(_qdate(d)),
            "monthly_fee": lambda v: self.fee.setText(str(v)),
            "currency": self.currency.setCurrentText,
            "renewal_notice_days": self.notice_days.setValue,
            "auto_renew": self.auto_renew.setChecked, "services": self.set_services,
        }  # fmt: skip
        for key, value in values.items():
            setters[key](value)

    def _fill_targets(self, targets: Sequence[TargetRow]) -> None:
        self.targets.setRowCount(0)
        order = sorted(targets, key=lambda t: (t.priority or 0, t.metric != "response", t.metric))
        for t in order:
            r = self.targets.rowCount()
            self.targets.insertRow(r)
            if t.priority:
                bg, fg = priority_colours(t.priority)
                p = _item(f"P{t.priority}", t.id)
                p.setBackground(QBrush(QColor(bg)))
                p.setForeground(QBrush(QColor(fg)))
                p.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
            else:
                p = _item("all", t.id)
                p.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
            self.targets.setItem(r, 0, p)
            self.targets.setItem(r, 1, _item(METRIC_LABELS.get(t.metric, t.metric)))
            self.targets.setItem(r, 2, _item(target_text(t), right=True))
            met = "" if t.metric == "availability" or t.target_percent is None else (
                f"{t.target_percent:g} %"
            )  # fmt: skip
            self.targets.setItem(r, 3, _item(met, right=True))
            self.targets.setItem(r, 4, _item("UC" if t.underpinning else "",
                                             tip="Underpinning contract target"
                                             if t.underpinning else ""))  # fmt: skip
        self.targets_empty.setText(
            "" if targets else "No targets yet — Add target… per priority, and availability."
        )

    def _show_credit(self, rule: CreditRuleRow | None) -> None:
        for w in (self.credit_target, self.credit_rate, self.credit_cap, self.credit_metric):
            w.blockSignals(True)
        self.credit_metric.setCurrentIndex(
            max(0, self.credit_metric.findData(rule.metric if rule else "availability"))
        )
        self.credit_target.setText(f"{rule.target_percent:g}" if rule else "")
        self.credit_rate.setText(f"{rule.percent_per_point:g}" if rule else "")
        self.credit_cap.setText(f"{rule.cap_percent:g}" if rule else "")
        for w in (self.credit_target, self.credit_rate, self.credit_cap, self.credit_metric):
            w.blockSignals(False)
        self._update_credit_example()

    def credit_values(self) -> dict[str, Any]:
        return {"metric": self.credit_metric.currentData(), "target": self.credit_target.text(),
                "per_point": self.credit_rate.text(), "cap": self.credit_cap.text()}  # fmt: skip

    def set_credit_values(self, target: Any, per_point: Any, cap: Any,
                          metric: str = "availability") -> None:  # fmt: skip
        self.credit_metric.setCurrentIndex(self.credit_metric.findData(metric))
        self.credit_target.setText(str(target))
        self.credit_rate.setText(str(per_point))
        self.credit_cap.setText(str(cap))

    def _update_credit_example(self, *_args: Any) -> None:
        values = self.credit_values()
        if not any(str(values[k]).strip() for k in ("target", "per_point", "cap")):
            self.credit_example.setText(
                "No credit rule: enter the credit per point, the target and the cap "
                "(e.g. 5 % per point below 99.9 %, capped at 20 %)."
            )
            self.credit_example.setStyleSheet("")
            return
        text = credit_example(values, self.fee.text(), self.currency.currentText().upper())
        try:
            check_credit(values)
            self.credit_example.setStyleSheet("")
        except ScorecardError:
            self.credit_example.setStyleSheet(f"color: {DANGER_TEXT};")
        self.credit_example.setText(text)

    def _fill_ucs(self, ucs: Sequence[UcSla]) -> None:
        self.ucs.setRowCount(0)
        for u in ucs:
            r = self.ucs.rowCount()
            self.ucs.insertRow(r)
            name = _item(u.name if u.active else f"{u.name} (inactive)", u.id)
            self.ucs.setItem(r, 0, name)
            self.ucs.setItem(r, 1, _item(f"{u.target} {format_duration(u.duration_seconds)}",
                                         right=True))  # fmt: skip
            where = ", ".join(
                f"{k.replace('_id', '')} {', '.join(f'P{v}' if k == 'priority' else str(v) for v in vs)}"
                for k, vs in u.applies_to.items() if isinstance(vs, list)
            ) or "every incident"  # fmt: skip
            self.ucs.setItem(r, 2, _item(where))
        self.ucs.setVisible(bool(ucs))
        self.ucs_empty.setText(
            "" if ucs else "No UC SLA definition is linked to this contract: its targets are "
            "measured from the incidents' own SLA clocks. UC clocks are defined with the "
            "other SLA definitions."
        )  # fmt: skip
        self.ucs_empty.setVisible(not ucs)

    # Buttons

    def _set_busy(self, busy: bool) -> None:
        self.busy = busy
        if shiboken6.isValid(self):
            self._update_buttons()

    def _update_buttons(self) -> None:
        saved = self.vendor is not None
        idle = not self.busy
        self.save_vendor_button.setEnabled(idle)
        for tab in (1, 2):
            self.tabs.setTabEnabled(tab, saved)
        self.add_contact_button.setEnabled(idle and saved)
        has_contact = bool(self.contacts.selectionModel().selectedRows())
        self.edit_contact_button.setEnabled(idle and has_contact)
        self.remove_contact_button.setEnabled(idle and has_contact)
        self.save_contract_button.setEnabled(idle and saved)
        self.new_contract_button.setEnabled(idle and saved)
        has_contract = self.contract() is not None
        self.add_target_button.setEnabled(idle and has_contract)
        has_target = bool(self.targets.selectionModel().selectedRows())
        self.edit_target_button.setEnabled(idle and has_target)
        self.remove_target_button.setEnabled(idle and has_target)
        self.save_credit_button.setEnabled(idle and has_contract)

    def _save_current_tab(self) -> None:
        index = self.tabs.currentIndex()
        if index == 0:
            self.save_vendor()
        elif index == 2:
            self.save_contract()

    def show_problem(self, text: str) -> None:
        self.last_message = text
        self.problem.setText(text)
        self.problem.show()
        self.status.setText("Not saved")

    # Writing

    def _write(
        self,
        label: str,
        op: Callable[[Session], int | None],
        done: str,
        after: Callable[[], None] | None = None,
        on_conflict: Callable[[ConflictError], None] | None = None,
        saving: str | None = None,
    ) -> ops.OpHandle | None:
        """Run ``op(session)`` (it returns the vendor id) in one transaction, then read the
        vendor again in it; ``after()`` runs once that is shown. A version conflict that
        carries the saved values goes to ``on_conflict`` when given. Unsaved edits of the
        sections other than ``saving`` ("vendor", "contract", "credit") are kept."""
        if self.busy:
            return None
        carried = self._unsaved_edits(saving)
        today = self.today()
        self.problem.hide()
        self._set_busy(True)
        self.status.setText(f"{label}…")

        def work(session: Session, _progress) -> EditorData:
            vendor_id = op(session)
            session.flush()
            session.expire_all()
            return load_editor(session, vendor_id, today)

        def success(data: EditorData) -> None:
            self.last_message = done
            self.status.setText(done)
            self._arrived(data)
            self._put_back(carried)
            if after is not None:
                after()
            if data.vendor is not None:
                self.saved.emit(data.vendor.id)

        return (
            ops.QueryOp(parent=self, db=self.db, op=work, success=success, commit=True)
            .failure(lambda exc: self._write_failed(exc, on_conflict))
            .run_in_background()
        )

    def _write_failed(
        self, exc: BaseException, on_conflict: Callable[[ConflictError], None] | None = None
    ) -> None:
        self._set_busy(False)
        if isinstance(exc, ConflictError) and exc.theirs and on_conflict is not None:
            on_conflict(exc)
        elif isinstance(exc, ConflictError):
            text = f"{exc}\n\nThe vendor has been read again: repeat your change on it."
            self.last_message = text
            self.status.setText("Changed by someone else — read again")
            tell(self, "Changed by someone else", text)
            self.reload()
        elif isinstance(exc, ScorecardError):
            message = str(exc)
            self.show_problem(message[:1].upper() + message[1:])
        else:
            self.last_message = str(exc)
            self.status.setText("Not saved")
            ops.show_error(self, exc)

    def vendor_values(self) -> dict[str, Any]:
        return {
            "name": self.name.text().strip(),
            "category": self.category.currentText().strip(),
            "website": self.website.text().strip() or None,
            "account_manager": self.account_manager.text().strip() or None,
            "active": bool(self.active.currentData()),
        }

    def save_vendor(self) -> ops.OpHandle | None:
        """Create the vendor, or save the changes to its own fields."""
        values = self.vendor_values()
        if not values["name"]:
            self.show_problem("The vendor needs a name.")
            return None
        v = self.vendor
        if v is not None:
            old = self._opened_vendor()
            values = {k: val for k, val in values.items() if val != old[k]}
            if not values:
                self.status.setText("Nothing to save")
                return None
        return self._save_vendor_fields(values, v.version if v else None)

    def _opened_vendor(self) -> dict[str, Any]:
        v = self.vendor
        assert v is not None
        return {"name": v.name, "category": v.category, "website": v.website,
                "account_manager": v.account_manager, "active": v.active}  # fmt: skip

    def _save_vendor_fields(
        self, values: dict[str, Any], version: int | None
    ) -> ops.OpHandle | None:
        v = self.vendor
        vendor_id = v.id if v else None

        def op(session: Session) -> int:
            from app.services.vendors import save_vendor

            return save_vendor(session, vendor_id, values, expected_version=version)

        def conflict(exc: ConflictError) -> None:
            self._resolve(
                exc, "vendor", self._opened_vendor(), values, VENDOR_LABELS,
                self._save_vendor_fields,
            )  # fmt: skip

        name = values.get("name") or (v.name if v else "")
        return self._write(
            "Saving the vendor", op, f"Saved the vendor {name}", on_conflict=conflict,
            saving="vendor",
        )  # fmt: skip

    def _resolve(
        self,
        exc: ConflictError,
        what: str,
        opened: dict[str, Any],
        mine: dict[str, Any],
        labels: dict[str, str],
        resave: Callable[[dict[str, Any], int | None], ops.OpHandle | None],
    ) -> None:
        """Someone saved first: keep what only one side changed, ask about the rest."""
        found = conflict_dialog.settle(self, exc, what, opened, exc.theirs, mine, labels,
                                       self._shown)  # fmt: skip
        if found.answer is not None and found.answer.choice == CANCEL:
            self.status.setText("Not saved")
            return
        keep = found.kept(mine)
        if keep:
            resave(keep, exc.their_version)
        else:
            self.status.setText("Showing the saved values")
            self.reload()

    def _shown(self, key: str, value: Any) -> str:
        """A value as the conflict dialog shows it."""
        if value is None or value == "":
            return "—"
        if isinstance(value, bool):
            return "Yes" if value else "No"
        if key == "service_ids":
            names = {
                self.services.item(i).data(ID_ROLE): self.services.item(i).text()
                for i in range(self.services.count())
            }
            return ", ".join(sorted(names.get(i, f"#{i}") for i in value)) or "—"
        if isinstance(value, Decimal):
            return f"{value:.2f}"
        if isinstance(value, dt.date):
            return value.isoformat()
        return str(value)

    def _selected_id(self, table: QTableWidget) -> int | None:
        rows = table.selectionModel().selectedRows()
        return table.item(rows[0].row(), 0).data(ID_ROLE) if rows else None

    def add_contact(self, values: dict[str, str] | None = None) -> ops.OpHandle | None:
        return self.edit_contact(None, values, new=True)

    def edit_contact(
        self, contact_id: int | None = None, values: dict[str, str] | None = None, new: bool = False
    ) -> ops.OpHandle | None:
        """Add or change a contact (asks unless ``values`` are given)."""
        if self.vendor is None:
            return None
        if not new and contact_id is None:
            contact_id = self._selected_id(self.contacts)
            if contact_id is None:
                return None
        row = next((c for c in self.vendor.contacts if c.id == contact_id), None)
        if values is None:
            dialog = ContactDialog(row, self)
            if dialog.exec() != QDialog.DialogCode.Accepted:
                return None
            values = dialog.values()
        try:
            check_contact(values)
        except ScorecardError as exc:
            self.show_problem(str(exc))
            return None
        vendor_id = self.vendor.id
        version = row.version if row else None
        ident = None if new else contact_id

        def op(session: Session) -> int:
            from app.services.vendors import save_contact

            save_contact(session, vendor_id, ident, values, expected_version=version)
            return vendor_id

        return self._write("Saving the contact", op, f"Saved the contact {values['name']}")

    def remove_contact(
        self, contact_id: int | None = None, ask: bool = True
    ) -> ops.OpHandle | None:
        if self.vendor is None:
            return None
        contact_id = contact_id or self._selected_id(self.contacts)
        row = next((c for c in self.vendor.contacts if c.id == contact_id), None)
        if row is None or (ask and not confirm(self, f"Remove the contact {row.name}?")):
            return None
        vendor_id = self.vendor.id

        def op(session: Session) -> int:
            from app.services.vendors import delete_contact

            delete_contact(session, row.id, expected_version=row.version)
            return vendor_id

        return self._write("Removing the contact", op, f"Removed the contact {row.name}")

    def save_contract(self) -> ops.OpHandle | None:
        """Create the contract in the form, or save its changes; checked first."""
        if self.vendor is None:
            return None
        try:
            values = check_contract(self.contract_values())
        except ScorecardError as exc:
            self.show_problem(str(exc))
            return None
        c = self.contract()
        if c is not None:
            old = self._opened_contract()
            values["service_ids"] = sorted(values["service_ids"])
            values = {k: v for k, v in values.items() if v != old[k]}
            if not values:
                self.status.setText("Nothing to save")
                return None
        return self._save_contract_fields(values, c.version if c else None)

    def _opened_contract(self) -> dict[str, Any]:
        c = self.contract()
        assert c is not None
        return {"reference": c.reference, "title": c.title, "starts_on": c.starts_on,
                "ends_on": c.ends_on, "monthly_fee": c.monthly_fee, "currency": c.currency,
                "renewal_notice_days": c.renewal_notice_days, "auto_renew": c.auto_renew,
                "service_ids": sorted(c.service_ids)}  # fmt: skip

    def _save_contract_fields(
        self, values: dict[str, Any], version: int | None
    ) -> ops.OpHandle | None:
        assert self.vendor is not None
        c = self.contract()
        vendor_id = self.vendor.id
        contract_id = c.id if c else None
        reference = values.get("reference") or (c.reference if c else "")

        created: dict[str, int] = {}

        def op(session: Session) -> int:
            from app.services.vendors import save_contract

            created["id"] = save_contract(session, vendor_id, contract_id, values,
                                          expected_version=version)  # fmt: skip
            return vendor_id

        def show_it() -> None:
            if contract_id is None and created.get("id") is not None:
                self._contract_id = created["id"]
                self._select_contract_row(self._contract_id)
                self._show_contract(self.contract())

        def conflict(exc: ConflictError) -> None:
            self._resolve(
                exc, "contract", self._opened_contract(), values, CONTRACT_LABELS,
                self._save_contract_fields,
            )  # fmt: skip

        return self._write(
            "Saving the contract", op, f"Saved the contract {reference}", show_it, conflict,
            saving="contract",
        )  # fmt: skip

    def add_target(self, values: dict[str, Any] | None = None) -> ops.OpHandle | None:
        return self.edit_target(None, values, new=True)

    def edit_target(
        self, target_id: int | None = None, values: dict[str, Any] | None = None, new: bool = False
    ) -> ops.OpHandle | None:
        """Add or change an SLA target of the contract shown (asks unless ``values``)."""
        c = self.contract()
        if c is None:
            return None
        if not new and target_id is None:
            target_id = self._selected_id(self.targets)
            if target_id is None:
                return None
        row = next((t for t in c.targets if t.id == target_id), None)
        if values is None:
            dialog = TargetDialog(row, self)
            if dialog.exec() != QDialog.DialogCode.Accepted:
                return None
            values = dialog.values()
        try:
            checked = check_target(values)
        except ScorecardError as exc:
            self.show_problem(str(exc))
            return None
        vendor_id, contract_id = c.vendor_id, c.id
        ident = None if new else target_id
        version = row.version if row and not new else None

        def op(session: Session) -> int:
            from app.services.vendors import save_target

            save_target(session, contract_id, ident, expected_version=version, **checked)
            return vendor_id

        what = METRIC_LABELS[checked["metric"]].lower()
        pr = f" P{checked['priority']}" if checked["priority"] else ""
        return self._write("Saving the target", op, f"Saved the{pr} {what} target of {c.reference}")

    def remove_target(self, target_id: int | None = None, ask: bool = True) -> ops.OpHandle | None:
        c = self.contract()
        if c is None:
            return None
        target_id = target_id or self._selected_id(self.targets)
        row = next((t for t in c.targets if t.id == target_id), None)
        if row is None:
            return None
        words = f"{f'P{row.priority} ' if row.priority else ''}{row.metric} target"
        if ask and not confirm(self, f"Remove the {words} ({target_text(row)}) of {c.reference}?"):
            return None
        vendor_id = c.vendor_id

        def op(session: Session) -> int:
            from app.services.vendors import delete_target

            delete_target(session, row.id, expected_version=row.version)
            return vendor_id

        return self._write("Removing the target", op, f"Removed the {words} of {c.reference}")

    def save_credit_rule(self) -> ops.OpHandle | None:
        """Save the service-credit rule of the contract shown (checked first)."""
        c = self.contract()
        if c is None:
            return None
        try:
            rule = check_credit(self.credit_values())
        except ScorecardError as exc:
            self.show_problem(str(exc))
            return None
        old = c.credit_rules[0] if c.credit_rules else None
        if old is not None and (old.metric, old.target_percent, old.percent_per_point,
                                old.cap_percent) == tuple(rule.values()):  # fmt: skip
            self.status.setText("Nothing to save")
            return None
        vendor_id, contract_id = c.vendor_id, c.id
        rule_id, version = (old.id, old.version) if old else (None, None)

        def op(session: Session) -> int:
            from app.services.vendors import save_credit_rule

            save_credit_rule(session, contract_id, rule_id, expected_version=version, **rule)
            return vendor_id

        return self._write(
            "Saving the credit rule", op, f"Saved the credit rule of {c.reference}",
            saving="credit",
        )  # fmt: skip

    # Closing

    def unsaved(self) -> list[str]:
        """What the form holds that is not saved: "the vendor", "the contract CT-1", ..."""
        if self.data is None:
            return []
        parts = []
        if self._vendor_unsaved():
            parts.append("the vendor" if self.vendor is not None else "the new vendor")
        c = self.contract()
        if self._contract_unsaved():
            parts.append(f"the contract {c.reference}" if c else "the new contract")
        if c is not None and self._credit_unsaved():
            parts.append(f"the credit rule of {c.reference}")
        return parts

    def _vendor_unsaved(self) -> bool:
        values = self.vendor_values()
        if self.vendor is None:
            return bool(values["name"])
        return values != self._opened_vendor()

    def _contract_unsaved(self) -> bool:
        c, form = self.contract(), self.contract_values()
        if c is None:
            return self.vendor is not None and bool(form["reference"].strip())
        try:
            checked = check_contract(form)
        except ScorecardError:
            return True  # half-typed: not what is saved either
        checked["service_ids"] = sorted(checked["service_ids"])
        return checked != self._opened_contract()

    def _credit_unsaved(self) -> bool:
        c = self.contract()
        if c is None:
            return False
        rule = c.credit_rules[0] if c.credit_rules else None
        typed = self.credit_values()
        if rule is None:
            return any(str(typed[k]).strip() for k in ("target", "per_point", "cap"))
        try:
            credit: tuple[Any, ...] | None = tuple(check_credit(typed).values())
        except ScorecardError:
            credit = None
        return credit != (rule.metric, rule.target_percent, rule.percent_per_point,
                          rule.cap_percent)  # fmt: skip

    def _unsaved_edits(self, saving: str | None) -> dict[str, Any]:
        """The sections with unsaved edits other than the one being saved, to put back
        once the save has read the vendor again (a save must not wipe other edits)."""
        edits: dict[str, Any] = {}
        if self.data is None:
            return edits
        if saving != "vendor" and self._vendor_unsaved():
            edits["vendor"] = self.vendor_values()
        if saving != "contract" and self._contract_unsaved():
            edits["contract"] = (self._contract_id, self.contract_values())
        if saving != "credit" and self._credit_unsaved():
            edits["credit"] = (self._contract_id, self.credit_values())
        return edits

    def _put_back(self, edits: dict[str, Any]) -> None:
        vendor = edits.get("vendor")
        if vendor is not None:
            self.name.setText(vendor["name"])
            self.category.setCurrentText(vendor["category"])
            self.website.setText(vendor["website"] or "")
            self.account_manager.setText(vendor["account_manager"] or "")
            self.active.setCurrentIndex(0 if vendor["active"] else 1)
        contract = edits.get("contract")
        if contract is not None and contract[0] == self._contract_id:
            values = dict(contract[1])
            chosen = set(values.pop("service_ids"))
            self.set_contract_values(**values)
            for i in range(self.services.count()):
                item = self.services.item(i)
                on = item.data(ID_ROLE) in chosen
                item.setCheckState(Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)
        credit = edits.get("credit")
        if credit is not None and credit[0] == self._contract_id:
            values = credit[1]
            self.set_credit_values(values["target"], values["per_point"], values["cap"],
                                   values["metric"])  # fmt: skip

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt name
        parts = self.unsaved()
        if parts and not ask_discard(self, parts):
            event.ignore()
            return
        if VendorEditor._open.get(self._key()) is self:
            del VendorEditor._open[self._key()]
        super().closeEvent(event)

    def _key(self) -> tuple[int, int | None]:
        return (id(self.db), self.vendor_id)

    _open: dict[tuple[int, int | None], VendorEditor] = {}


def open_vendor_editor(
    parent: QWidget | None,
    db: Database,
    vendor_id: int | None = None,
    *,
    clock: Callable[[], dt.datetime] = utcnow,
) -> VendorEditor:
    """Show the vendor editor in a window of its own (None: a new vendor); a vendor that is
    already open is raised instead."""
    existing = VendorEditor._open.get((id(db), vendor_id)) if vendor_id else None
    if existing is not None and shiboken6.isValid(existing):
        existing.show()
        existing.raise_()
        existing.activateWindow()
        return existing
    editor = VendorEditor(db, vendor_id, parent, clock=clock)
    if vendor_id is not None:
        VendorEditor._open[(id(db), vendor_id)] = editor
    editor.show()
    return editor
