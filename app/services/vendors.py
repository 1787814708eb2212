"""Vendors, their contacts and contracts (terms, SLA targets, credit rules) and the
warnings a contract's end and renewal notice call for.

Every save checks the row's ``version`` as read (``expected_version``; None skips the
check) and refuses to overwrite a newer save with :class:`~app.services.scorecards.ConflictError`.
Bad input raises :class:`~app.services.scorecards.ScorecardError` with a sentence to show.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.orm.exc import StaleDataError

from app.db.engine import committed_view
from app.models import (
    Contract,
    ContractSlaTarget,
    CreditRule,
    Service,
    Vendor,
    VendorContact,
)
from app.services.scorecards import ConflictError, ScorecardError, _flush

TARGET_METRICS = ("response", "resolution", "availability")
CREDIT_METRICS = ("availability", "sla_attainment")
#: A renewal decision is flagged this many days before its notice deadline.
NOTICE_LEAD_DAYS = 30
#: Contracts ending within this many days are flagged.
ENDING_DAYS = 60


@dataclass(frozen=True)
class VendorRow:
    """A vendor in the vendors list."""

    id: int
    name: str
    category: str
    active: bool
    contracts: int
    next_end: dt.date | None
    version: int


@dataclass(frozen=True)
class ContactRow:
    id: int
    name: str
    role: str
    email: str | None
    phone: str | None
    version: int


@dataclass(frozen=True)
class TargetRow:
    id: int
    metric: str
    priority: int | None
    target_minutes: int | None
    target_percent: float | None
    underpinning: bool
    version: int


@dataclass(frozen=True)
class CreditRuleRow:
    id: int
    metric: str
    target_percent: float
    percent_per_point: float
    cap_percent: float
    version: int


@dataclass(frozen=True)
class ContractRow:
    id: int
    vendor_id: int
    reference: str
    title: str
    starts_on: dt.date
    ends_on: dt.date
    renewal_notice_days: int
    auto_renew: bool
    monthly_fee: Decimal
    currency: str
    service_ids: tuple[int, ...]
    services: tuple[str, ...]
    targets: tuple[TargetRow, ...]
    credit_rules: tuple[CreditRuleRow, ...]
    version: int


@dataclass(frozen=True)
class VendorDetail:
    id: int
    name: str
    category: str
    website: str | None
    account_manager: str | None
    active: bool
    contacts: tuple[ContactRow, ...]
    contracts: tuple[ContractRow, ...]
    version: int


@dataclass(frozen=True)
class ContractWarning:
    """Something about a contract that needs a decision, soonest first."""

    contract_id: int
    vendor_id: int
    vendor: str
    reference: str
    kind: str  # ended, notice_passed, notice_due, ending, no_targets, no_credit_rule
    severity: str  # high, medium, low
    due: dt.date | None
    days: int | None  # days from today to ``due`` (negative: past)
    message: str


# --- reading -------------------------------------------------------------------------------


def list_vendors(session: Session, include_inactive: bool = True) -> list[VendorRow]:
    """Every vendor by name, with its number of contracts and the next contract end."""
    today = dt.date.today()
    n = dict(
        session.execute(select(Contract.vendor_id, func.count()).group_by(Contract.vendor_id)).all()
    )
    nxt = dict(
        session.execute(
            select(Contract.vendor_id, func.min(Contract.ends_on))
            .where(Contract.ends_on >= today)
            .group_by(Contract.vendor_id)
        ).all()
    )
    q = select(Vendor).order_by(Vendor.name)
    if not include_inactive:
        q = q.where(Vendor.active.is_(True))
    return [
        VendorRow(
            v.id, v.name, v.category or "", v.active, n.get(v.id, 0), nxt.get(v.id), v.version
        )  # fmt: skip
        for v in session.scalars(q)
    ]


def _contract_row(c: Contract) -> ContractRow:
    return ContractRow(
        c.id, c.vendor_id, c.reference, c.title, c.starts_on, c.ends_on, c.renewal_notice_days,
        c.auto_renew, Decimal(c.monthly_fee or 0), c.currency,
        tuple(s.id for s in sorted(c.services, key=lambda s: s.name)),
        tuple(s.name for s in sorted(c.services, key=lambda s: s.name)),
        tuple(TargetRow(t.id, t.metric, t.priority, t.target_minutes, t.target_percent,
                        t.underpinning, t.version)
              for t in sorted(c.sla_targets, key=lambda t: (t.metric, t.priority or 0))),
        tuple(CreditRuleRow(r.id, r.metric, r.target_percent, r.percent_per_point,
                            r.cap_percent, r.version) for r in c.credit_rules),
        c.version,
    )  # fmt: skip


def get_vendor(session: Session, vendor_id: int) -> VendorDetail:
    """A vendor with its contacts and contracts (targets, credit rules, services)."""
    v = session.scalar(
        select(Vendor)
        .where(Vendor.id == vendor_id)
        .options(
            selectinload(Vendor.contacts),
            selectinload(Vendor.contracts).selectinload(Contract.services),
            selectinload(Vendor.contracts).selectinload(Contract.sla_targets),
            selectinload(Vendor.contracts).selectinload(Contract.credit_rules),
        )
    )
    if v is None:
        raise ScorecardError(f"no vendor with id {vendor_id}")
    return VendorDetail(
        v.id, v.name, v.category or "", v.website, v.account_manager, v.active,
        tuple(ContactRow(c.id, c.name, c.role or "", c.email, c.phone, c.version)
              for c in sorted(v.contacts, key=lambda c: c.name)),
        tuple(_contract_row(c) for c in v.contracts), v.version,
    )  # fmt: skip


def vendor_by_name(session: Session, name: str) -> int:
    """A vendor's id from its name (exact, else case-insensitive); ScorecardError if none."""
    rows = session.execute(select(Vendor.id, Vendor.name)).all()
    for i, n in rows:
        if n == name:
            return i
    found = [i for i, n in rows if n.casefold() == name.strip().casefold()]
    if len(found) != 1:
        raise ScorecardError(f"unknown vendor {name!r}")
    return found[0]


# --- editing -------------------------------------------------------------------------------


VENDOR_FIELDS = ("name", "category", "website", "account_manager", "active")
CONTRACT_FIELDS = ("reference", "title", "starts_on", "ends_on", "monthly_fee", "currency",
                   "renewal_notice_days", "auto_renew", "service_ids")  # fmt: skip


def _saved_values(row: Any) -> dict[str, Any]:
    """The editable fields of a vendor or contract as saved, for a conflict."""
    if isinstance(row, Vendor):
        return {key: getattr(row, key) for key in VENDOR_FIELDS}
    if isinstance(row, Contract):
        values = {key: getattr(row, key) for key in CONTRACT_FIELDS[:-1]}
        return {**values, "service_ids": sorted(s.id for s in row.services)}
    return {}


def _flush_versioned(session: Session, what: str, row: Vendor | Contract) -> None:
    """Flush a vendor or contract; a save that lost a race to another console becomes a
    ConflictError carrying what that console saved (read anew: the transaction is gone)."""
    kind, ident = type(row), row.id
    try:
        session.flush()
    except StaleDataError:
        with committed_view(session) as fresh:
            saved = fresh.get(kind, ident)
            raise ConflictError(
                f"{what} was changed by someone else while it was being saved. "
                "Nothing was overwritten.",
                theirs=_saved_values(saved) if saved is not None else {},
                their_version=saved.version if saved is not None else None,
            ) from None


def _check_version(row: Any, expected: int | None, what: str) -> None:
    if expected is not None and row.version != expected:
        raise ConflictError(
            f"{what} was changed by someone else after you opened it. Nothing was overwritten.",
            theirs=_saved_values(row),
            their_version=row.version,
        )


def _own_row(
    session: Session,
    model: Any,
    ident: int,
    owner: str,
    owner_id: int,
    expected_version: int | None,
    what: str,
) -> Any:
    """The ``model`` row ``ident`` if it belongs to ``owner`` (``contract_id``,
    ``vendor_id``) ``owner_id`` and is still at ``expected_version``."""
    row = session.get(model, ident)
    if row is None or getattr(row, owner) != owner_id:
        parent = "contract" if owner == "contract_id" else "vendor"
        raise ScorecardError(f"no {what} with id {ident} on this {parent}")
    _check_version(row, expected_version, f"The {what}")
    return row


def _text(fields: Mapping[str, Any], key: str, limit: int, required: bool = False) -> str | None:
    value = fields.get(key)
    text = None if value is None else str(value).strip()
    if required and not text:
        raise ScorecardError(f"{key.replace('_', ' ')} is required")
    if text and len(text) > limit:
        raise ScorecardError(f"{key.replace('_', ' ')} is longer than {limit} characters")
    return text or None


def save_vendor(
    session: Session,
    vendor_id: int | None,
    fields: Mapping[str, Any],
    expected_version: int | None = None,
) -> int:
    """Create (``vendor_id`` None) or update a vendor: ``name``, ``category``, ``website``,
    ``account_manager``, ``active``. Returns its id."""
    unknown = set(fields) - set(VENDOR_FIELDS)
    if unknown:
        raise ScorecardError(f"a vendor has no field {sorted(unknown)[0]!r}")
    if vendor_id is None:
        vendor = Vendor(name="", category="", active=True)
        fields = {"category": "", **fields}
        _text(fields, "name", 120, required=True)
    else:
        found = session.get(Vendor, vendor_id)
        if found is None:
            raise ScorecardError(f"no vendor with id {vendor_id}")
        vendor = found
        _check_version(vendor, expected_version, f"The vendor {vendor.name!r}")
    new: dict[str, Any] = {}
    if "name" in fields:
        name = _text(fields, "name", 120, required=True)
        clash = session.scalar(select(Vendor.id).where(Vendor.name == name, Vendor.id != vendor_id))
        if clash is not None:
            raise ScorecardError(f"there is already a vendor called {name!r}")
        new["name"] = name
    for key, limit in (("category", 60), ("website", 200), ("account_manager", 120)):
        if key in fields:
            value = _text(fields, key, limit)
            new[key] = "" if value is None and key == "category" else value
    if "active" in fields:
        new["active"] = bool(fields["active"])
    for key, value in new.items():
        setattr(vendor, key, value)
    if vendor_id is None:
        session.add(vendor)
    _flush_versioned(session, f"The vendor {vendor.name!r}", vendor)
    return vendor.id


def save_contact(
    session: Session,
    vendor_id: int,
    contact_id: int | None,
    fields: Mapping[str, Any],
    expected_version: int | None = None,
) -> int:
    """Create or update a vendor contact: ``name``, ``role``, ``email``, ``phone``."""
    if session.get(Vendor, vendor_id) is None:
        raise ScorecardError(f"no vendor with id {vendor_id}")
    email = _text(fields, "email", 200)
    if email and ("@" not in email or " " in email):
        raise ScorecardError(f"{email!r} is not an e-mail address")
    if contact_id is None:
        _text(fields, "name", 120, required=True)
        contact = VendorContact(vendor_id=vendor_id, name="", role="")
        session.add(contact)
    else:
        found = session.get(VendorContact, contact_id)
        if found is None or found.vendor_id != vendor_id:
            raise ScorecardError(f"no contact with id {contact_id} at this vendor")
        contact = found
        _check_version(contact, expected_version, f"The contact {contact.name!r}")
    if "name" in fields:
        contact.name = _text(fields, "name", 120, required=True) or ""
    if "role" in fields:
        contact.role = _text(fields, "role", 60) or ""
    if "email" in fields:
        contact.email = email
    if "phone" in fields:
        contact.phone = _text(fields, "phone", 40)
    _flush(session, "The contact")
    return contact.id


def delete_contact(session: Session, contact_id: int, expected_version: int | None = None) -> None:
    contact = session.get(VendorContact, contact_id)
    if contact is None:
        return
    _check_version(contact, expected_version, f"The contact {contact.name!r}")
    session.delete(contact)
    _flush(session, "The contact")


def _date(value: Any, what: str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError:
        raise ScorecardError(f"{what} must be a date (YYYY-MM-DD), not {value!r}") from None


def save_contract(
    session: Session,
    vendor_id: int,
    contract_id: int | None,
    fields: Mapping[str, Any],
    expected_version: int | None = None,
) -> int:
    """Create or update a contract: ``reference``, ``title``, ``starts_on``, ``ends_on``,
    ``renewal_notice_days``, ``auto_renew``, ``monthly_fee``, ``currency``, ``service_ids``.
    Everything is checked before anything changes."""
    unknown = set(fields) - set(CONTRACT_FIELDS)
    if unknown:
        raise ScorecardError(f"a contract has no field {sorted(unknown)[0]!r}")
    if session.get(Vendor, vendor_id) is None:
        raise ScorecardError(f"no vendor with id {vendor_id}")
    contract: Contract | None = None
    if contract_id is None:
        missing = [k for k in ("reference", "title", "starts_on", "ends_on") if k not in fields]
        if missing:
            raise ScorecardError(f"a new contract needs {', '.join(missing)}")
    else:
        contract = session.get(Contract, contract_id)
        if contract is None or contract.vendor_id != vendor_id:
            raise ScorecardError(f"no contract with id {contract_id} for this vendor")
        _check_version(contract, expected_version, f"The contract {contract.reference}")
    new = _contract_values(session, contract, contract_id, fields)
    if contract is None:
        contract = Contract(vendor_id=vendor_id, renewal_notice_days=90, auto_renew=False,
                            monthly_fee=Decimal("0"), currency="EUR")  # fmt: skip
        session.add(contract)
    for key, value in new.items():
        setattr(contract, key, value)
    _flush_versioned(session, f"The contract {contract.reference}", contract)
    return contract.id


def _contract_values(
    session: Session, contract: Contract | None, contract_id: int | None, fields: Mapping[str, Any]
) -> dict[str, Any]:
    new: dict[str, Any] = {}
    if "reference" in fields:
        ref = _text(fields, "reference", 40, required=True)
        clash = session.scalar(
            select(Contract.id).where(Contract.reference == ref, Contract.id != contract_id)
        )
        if clash is not None:
            raise ScorecardError(f"there is already a contract {ref}")
        new["reference"] = ref
    if "title" in fields:
        new["title"] = _text(fields, "title", 200, required=True)
    starts = _date(fields["starts_on"], "the start") if "starts_on" in fields else None
    ends = _date(fields["ends_on"], "the end") if "ends_on" in fields else None
    starts = starts or (contract.starts_on if contract else None)
    ends = ends or (contract.ends_on if contract else None)
    if starts and ends and ends < starts:
        raise ScorecardError(f"the contract ends ({ends}) before it starts ({starts})")
    new["starts_on"], new["ends_on"] = starts, ends
    if "renewal_notice_days" in fields:
        days = fields["renewal_notice_days"]
        if not isinstance(days, int) or isinstance(days, bool) or not 0 <= days <= 3650:
            raise ScorecardError(f"the renewal notice is 0-3650 days, not {days!r}")
        new["renewal_notice_days"] = days
    if "auto_renew" in fields:
        new["auto_renew"] = bool(fields["auto_renew"])
    if "monthly_fee" in fields:
        try:
            fee = Decimal(str(fields["monthly_fee"]))
        except InvalidOperation:
            raise ScorecardError(
                f"the monthly fee is not a number: {fields['monthly_fee']!r}"
            ) from None
        if not fee.is_finite() or fee < 0:
            raise ScorecardError("the monthly fee must be 0 or more")
        new["monthly_fee"] = fee.quantize(Decimal("0.01"))
    if "currency" in fields:
        cur = str(fields["currency"]).strip().upper()
        if len(cur) != 3 or not cur.isalpha():
            raise ScorecardError(f"a currency is a three-letter code like EUR, not {cur!r}")
        new["currency"] = cur
    if "service_ids" in fields:
        ids = list(dict.fromkeys(int(i) for i in fields["service_ids"]))
        services = session.scalars(select(Service).where(Service.id.in_(ids))).all()
        if len(services) != len(ids):
            raise ScorecardError("one of the services no longer exists")
        new["services"] = list(services)
    return new


def save_target(
    session: Session,
    contract_id: int,
    target_id: int | None,
    metric: str,
    priority: int | None = None,
    target_minutes: int | None = None,
    target_percent: float | None = None,
    underpinning: bool = True,
    expected_version: int | None = None,
) -> int:
    """A contracted SLA target: response/resolution minutes per priority (with the share of
    incidents that must meet it), or an availability %."""
    if session.get(Contract, contract_id) is None:
        raise ScorecardError(f"no contract with id {contract_id}")
    if metric not in TARGET_METRICS:
        raise ScorecardError(f"a target is {', '.join(TARGET_METRICS)}, not {metric!r}")
    if priority is not None and priority not in (1, 2, 3, 4, 5):
        raise ScorecardError(f"priority is 1-5, not {priority!r}")
    if target_percent is not None and not (
        math.isfinite(target_percent) and 0 < target_percent <= 100
    ):
        raise ScorecardError(f"a target percent is above 0 and at most 100, not {target_percent}")
    if metric == "availability":
        if target_percent is None:
            raise ScorecardError("an availability target needs a percent, e.g. 99.9")
        priority, target_minutes = None, None
    elif target_minutes is None or target_minutes <= 0:
        raise ScorecardError(f"a {metric} target needs a time in minutes above 0")
    if target_id is None:
        row = ContractSlaTarget(contract_id=contract_id)
        session.add(row)
    else:
        row = _own_row(session, ContractSlaTarget, target_id, "contract_id", contract_id,
                       expected_version, "target")  # fmt: skip
    row.metric, row.priority = metric, priority
    row.target_minutes, row.target_percent = target_minutes, target_percent
    row.underpinning = underpinning
    _flush(session, "The target")
    return row.id


def delete_target(session: Session, target_id: int, expected_version: int | None = None) -> None:
    row = session.get(ContractSlaTarget, target_id)
    if row is None:
        return
    _check_version(row, expected_version, "The target")
    session.delete(row)
    _flush(session, "The target")


def save_credit_rule(
    session: Session,
    contract_id: int,
    rule_id: int | None,
    metric: str,
    target_percent: float,
    percent_per_point: float,
    cap_percent: float,
    expected_version: int | None = None,
) -> int:
    """``percent_per_point`` of the monthly fee per point of ``metric`` below
    ``target_percent``, capped at ``cap_percent``."""
    if session.get(Contract, contract_id) is None:
        raise ScorecardError(f"no contract with id {contract_id}")
    if metric not in CREDIT_METRICS:
        raise ScorecardError(f"a credit rule is on {', '.join(CREDIT_METRICS)}, not {metric!r}")
    for label, value, top in (("target", target_percent, 100.0),
                              ("percent per point", percent_per_point, 100.0),
                              ("cap", cap_percent, 100.0)):  # fmt: skip
        if not isinstance(value, int | float) or not math.isfinite(value) or not 0 < value <= top:
            raise ScorecardError(f"the credit rule's {label} is above 0 and at most {top:g}")
    if rule_id is None:
        row = CreditRule(contract_id=contract_id)
        session.add(row)
    else:
        row = _own_row(session, CreditRule, rule_id, "contract_id", contract_id,
                       expected_version, "credit rule")  # fmt: skip
    row.metric, row.target_percent = metric, float(target_percent)
    row.percent_per_point, row.cap_percent = float(percent_per_point), float(cap_percent)
    _flush(session, "The credit rule")
    return row.id


# --- warnings ------------------------------------------------------------------------------


def contract_warnings(
    session: Session, today: dt.date, vendor_ids: Sequence[int] | None = None
) -> list[ContractWarning]:
    """What needs deciding about contracts, most urgent first.

    * ``notice_passed``: the notice deadline (end minus the notice days) has passed and the
      contract has not ended: it renews by itself (auto-renew) or ends without a say.
    * ``notice_due``: the notice deadline is within 30 days.
    * ``ending``: a contract without auto-renewal ends within 60 days, or
      ``ended`` within the last 30 days with no later contract for the vendor.
    * ``no_targets`` / ``no_credit_rule``: a current contract without SLA targets or without
      a service-credit rule (scorecards and credits cannot be measured against it).
    """
    q = (
        select(Contract, Vendor.name)
        .join(Vendor, Vendor.id == Contract.vendor_id)
        .where(Vendor.active.is_(True))
        .options(selectinload(Contract.sla_targets), selectinload(Contract.credit_rules))
    )
    if vendor_ids is not None:
        q = q.where(Contract.vendor_id.in_(list(vendor_ids)))
    rows = session.execute(q).all()
    latest_end: dict[int, dt.date] = {}
    for c, _ in rows:
        latest_end[c.vendor_id] = max(latest_end.get(c.vendor_id, c.ends_on), c.ends_on)
    out: list[ContractWarning] = []

    def add(c: Contract, vendor: str, kind: str, severity: str, due: dt.date | None,
            message: str) -> None:  # fmt: skip
        days = None if due is None else (due - today).days
        out.append(ContractWarning(c.id, c.vendor_id, vendor, c.reference, kind, severity, due,
                                   days, message))  # fmt: skip

    for c, vendor in rows:
        notice = c.ends_on - dt.timedelta(days=c.renewal_notice_days)
        left = (c.ends_on - today).days
        if c.ends_on < today:
            if (today - c.ends_on).days <= 30 and latest_end[c.vendor_id] == c.ends_on:
                add(c, vendor, "ended", "high", c.ends_on,
                    f"{c.reference} ({vendor}) ended on {c.ends_on:%d %b %Y} and no later "
                    "contract is recorded.")  # fmt: skip
            continue
        if c.starts_on > today:
            continue
        if notice < today:
            what = "renews automatically" if c.auto_renew else "ends"
            add(c, vendor, "notice_passed", "high", c.ends_on,
                f"{c.reference} ({vendor}): the notice deadline {notice:%d %b %Y} has passed; "
                f"it {what} on {c.ends_on:%d %b %Y} ({left} days).")  # fmt: skip
        elif (notice - today).days <= NOTICE_LEAD_DAYS:
            what = "to stop it renewing" if c.auto_renew else "to renew or renegotiate"
            add(c, vendor, "notice_due", "medium", notice,
                f"{c.reference} ({vendor}): give notice by {notice:%d %b %Y} "
                f"({(notice - today).days} days) {what}; it ends {c.ends_on:%d %b %Y}.")  # fmt: skip
        elif left <= ENDING_DAYS and not c.auto_renew:
            add(c, vendor, "ending", "medium", c.ends_on,
                f"{c.reference} ({vendor}) ends on {c.ends_on:%d %b %Y} ({left} days).")  # fmt: skip
        if not c.sla_targets:
            add(c, vendor, "no_targets", "low", None,
                f"{c.reference} ({vendor}) has no SLA targets: its scorecard cannot be "
                "measured against the contract.")  # fmt: skip
        if not c.credit_rules:
            add(c, vendor, "no_credit_rule", "low", None,
                f"{c.reference} ({vendor}) has no service-credit rule: no credits can be "
                "worked out.")  # fmt: skip
    rank = {"high": 0, "medium": 1, "low": 2}
    out.sort(key=lambda w: (rank[w.severity], w.due or dt.date.max, w.vendor, w.reference))
    return out
