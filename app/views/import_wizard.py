"""File > Import incidents…: a ServiceNow or Jira Service Management export, step by step.

Choose the file (its kind is recognised from the headers), check the proposed mapping of
columns to fields and the date format, preview the incidents as they will be stored
(every row is checked first, so a bad row is named before anything is written), then
import in one transaction. Reading and writing run in the background with progress and
cancel; the command line's ``servicedeck import`` runs the same services.
"""

from __future__ import annotations

import datetime as dt
import html
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
    QWizard,
    QWizardPage,
)

from app.db import Database
from app.services.io import importer as imp
from app.services.io.records import ImportFileError, ImportPlan, ImportSource
from app.services.progress import Progress
from app.views import ops
from app.views.widgets import problem_label

NOT_IN_FILE = "— not in the file —"
PREVIEW_ROWS = 20
#: Fields the preview shows, in this order (the others are still imported).
PREVIEW_FIELDS = (
    ("number", "Number"),
    ("short_description", "Short description"),
    ("state", "State"),
    ("hold_reason", "On hold reason"),
    ("priority", "Priority"),
    ("impact", "Impact"),
    ("urgency", "Urgency"),
    ("assignment_group", "Group"),
    ("assignee", "Assigned to"),
    ("opened_at", "Opened"),
    ("resolved_at", "Resolved"),
    ("closed_at", "Closed"),
    ("history", "History"),
)
FILE_FILTER = "Exports (*.csv *.xlsx);;CSV (*.csv);;Excel workbooks (*.xlsx)"
MAPPING_FILTER = "Import mappings (*.json)"


LOCAL_ZONE = "This computer's time zone"


def _first_values(table: imp.Table) -> list[str]:
    """Per column, its first value that is not empty ("" when there is none)."""
    out = []
    for column in range(len(table.headers)):
        out.append(next((r[column] for r in table.rows if r[column].strip()), ""))
    return out


class _Busy(QWidget):
    """A progress bar with a Cancel button for the page's background work."""

    #: The work ended (after its success or failure handling).
    idle = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.handle: ops.OpHandle | None = None
        self.label = QLabel()
        self.bar = QProgressBar()
        self.bar.setTextVisible(True)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("cancelWork")
        self.cancel_button.setToolTip("Stop; nothing is written")
        self.cancel_button.clicked.connect(self.cancel)
        line = QHBoxLayout(self)
        line.setContentsMargins(0, 0, 0, 0)
        line.addWidget(self.label)
        line.addWidget(self.bar, 1)
        line.addWidget(self.cancel_button)
        self.hide()

    def track(self, handle: ops.OpHandle, label: str) -> None:
        self.handle = handle
        self.label.setText(label)
        self.bar.setRange(0, 0)
        self.show()
        handle.progressed.connect(self._progressed)
        handle.finished.connect(self._finished)

    def _progressed(self, done: int, total: int, label: str) -> None:
        if label:
            self.label.setText(label)
        if total:
            self.bar.setRange(0, total)
            self.bar.setValue(done)
        else:
            self.bar.setRange(0, 0)

    def _finished(self) -> None:
        self.handle = None
        self.hide()
        self.idle.emit()

    @property
    def running(self) -> bool:
        return self.handle is not None

    def cancel(self) -> None:
        if self.handle is not None:
            self.handle.cancel()


class FilePage(QWizardPage):
    """Which file, and which kind of export it is."""

    def __init__(self, wizard: ImportWizard) -> None:
        super().__init__()
        self.wiz = wizard
        self.setTitle("Choose the export")
        self.setSubTitle(
            "A ServiceNow incident list or audit / event-log export, or a Jira Service "
            "Management CSV, as .csv or .xlsx."
        )
        self.path_edit = QLineEdit()
        self.path_edit.setObjectName("path")
        self.path_edit.setAccessibleName("Export file")
        self.path_edit.setPlaceholderText("Path of the export file")
        self.path_edit.editingFinished.connect(self._path_edited)
        browse = QPushButton("&Browse…")
        browse.setObjectName("browse")
        browse.clicked.connect(self.browse)
        row = QHBoxLayout()
        row.addWidget(self.path_edit, 1)
        row.addWidget(browse)
        self.source = QComboBox()
        self.source.setObjectName("source")
        self.source.setAccessibleName("Kind of export")
        for kind in ImportSource:
            self.source.addItem(kind.label, kind.value)
        self.source.setCurrentIndex(-1)
        self.source.currentIndexChanged.connect(self._source_chosen)
        self.found = QLabel()
        self.found.setObjectName("found")
        self.found.setWordWrap(True)
        self.problem = problem_label("problem")
        self.busy = _Busy()
        self.busy.idle.connect(self.completeChanged)
        file_label = QLabel("&File")
        file_label.setBuddy(self.path_edit)
        form = QFormLayout()
        form.addRow(file_label, row)
        form.addRow("&Kind", self.source)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.found)
        layout.addWidget(self.problem)
        layout.addStretch(1)
        layout.addWidget(self.busy)
        self._read_path = ""

    def browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import incidents", "", FILE_FILTER)
        if path:
            self.load(path)

    def _path_edited(self) -> None:
        text = self.path_edit.text().strip()
        if text and text != self._read_path:
            self.load(text)

    def load(self, path: str | Path) -> ops.OpHandle | None:
        """Read the file's headers and cells in the background, then recognise its kind."""
        path = str(path)
        self.path_edit.setText(path)
        self._read_path = path
        self.wiz.table = None
        self.problem.hide()
        self.found.setText("")
        self.busy.cancel()
        self.completeChanged.emit()

        def work(progress: Progress) -> tuple[imp.Table, ImportSource | None, list[str]]:
            progress.update(0, 0, "Reading the file")
            table = imp.read_table(path)
            return table, imp.detect_source(table.headers), _first_values(table)

        handle = (
            ops.BackgroundOp(parent=self, op=work, success=self._read)
            .failure(self._failed)
            .run_in_background()
        )
        self.busy.track(handle, "Reading the file")
        return handle

    def _read(self, result: tuple[imp.Table, ImportSource | None, list[str]]) -> None:
        table, source, examples = result
        self.wiz.table = table
        self.wiz.examples = examples
        rows, columns = len(table.rows), len(table.headers)
        text = f"{rows:,} row{'s' if rows != 1 else ''}, {columns} columns."
        if source is not None:
            self.source.setCurrentIndex(self.source.findData(source.value))
            text += f" This looks like a <b>{html.escape(source.label)}</b>."
        else:
            self.source.setCurrentIndex(-1)
            text += (
                " Servicedeck does not recognise these columns: choose the kind of export, "
                "then map the columns on the next page."
            )
        self.found.setText(text)
        self.completeChanged.emit()

    def _failed(self, exc: BaseException) -> None:
        if not isinstance(exc, ImportFileError):
            ops.show_error(self, exc)
            return
        self.problem.setText(str(exc))
        self.problem.show()
        self.completeChanged.emit()

    def _source_chosen(self) -> None:
        data = self.source.currentData()
        self.wiz.source = ImportSource(data) if data else None
        self.completeChanged.emit()

    def isComplete(self) -> bool:  # noqa: N802 - Qt name
        return self.wiz.table is not None and self.wiz.source is not None and not self.busy.running


class MappingPage(QWizardPage):
    """Which column fills which field; the date format and the zone the times are in."""

    def __init__(self, wizard: ImportWizard) -> None:
        super().__init__()
        self.wiz = wizard
        self.setTitle("Map the columns")
        self.setSubTitle(
            "Servicedeck proposes a column for each field; change any of them. Fields marked "
            "* are needed. Save the mapping to reuse it for the next export."
        )
        self.table = QTableWidget(0, 3)
        self.table.setObjectName("mapping")
        self.table.setAccessibleName("Columns mapped to fields")
        self.table.setHorizontalHeaderLabels(["Field", "Column in the file", "First value"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QTableWidget.SelectionMode.NoSelection)
        self.table.setAlternatingRowColors(True)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.combos: dict[str, QComboBox] = {}
        self.specs: list[imp.FieldSpec] = []

        load = QPushButton("&Load mapping…")
        load.setObjectName("loadMapping")
        load.clicked.connect(self.load_mapping_dialog)
        save = QPushButton("&Save mapping…")
        save.setObjectName("saveMapping")
        save.clicked.connect(self.save_mapping_dialog)
        buttons = QHBoxLayout()
        buttons.addWidget(load)
        buttons.addWidget(save)
        buttons.addStretch(1)

        self.date_format = QComboBox()
        self.date_format.setObjectName("dateFormat")
        self.date_format.setAccessibleName("Date format")
        self.date_format.currentIndexChanged.connect(lambda _i: self.completeChanged.emit())
        self.date_note = QLabel()
        self.date_note.setObjectName("dateNote")
        self.date_note.setWordWrap(True)
        self.zone = QComboBox()
        self.zone.setObjectName("zone")
        self.zone.setAccessibleName("Time zone of the export")
        self.zone.setToolTip("The zone the export's times are written in (stored as UTC)")
        self.problem = problem_label("problem")
        self.busy = _Busy()
        self.busy.idle.connect(self.completeChanged)

        dates = QFormLayout()
        dates.addRow("&Dates", self.date_format)
        dates.addRow("", self.date_note)
        dates.addRow("&Time zone", self.zone)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons)
        layout.addLayout(dates)
        layout.addWidget(self.problem)
        layout.addWidget(self.busy)
        self._guess: imp.DateGuess | None = None

    def initializePage(self) -> None:  # noqa: N802 - Qt name
        table, source = self.wiz.table, self.wiz.source
        assert table is not None and source is not None
        if not self.zone.count():
            from zoneinfo import available_timezones

            self.zone.addItem(LOCAL_ZONE, None)
            for name in sorted(available_timezones()):
                self.zone.addItem(name, name)
        proposed = imp.propose_mapping(source, table.headers)
        if self.wiz.saved_mapping is not None and self.wiz.saved_mapping.source == source:
            proposed.update(
                {k: v for k, v in self.wiz.saved_mapping.mapping.items() if k in proposed}
            )
        self.specs = imp.fields_for(source)
        self.table.setRowCount(len(self.specs))
        self.combos = {}
        for r, spec in enumerate(self.specs):
            label = QTableWidgetItem(spec.label + (" *" if spec.required else ""))
            label.setToolTip("Needed" if spec.required else "Optional")
            self.table.setItem(r, 0, label)
            combo = QComboBox()
            combo.setObjectName(f"column_{spec.name}")
            combo.setAccessibleName(f"Column for {spec.label}")
            combo.addItem(NOT_IN_FILE, None)
            for header in table.headers:
                combo.addItem(header, header)
            chosen = proposed.get(spec.name)
            combo.setCurrentIndex(max(0, combo.findData(chosen)) if chosen else 0)
            combo.currentIndexChanged.connect(lambda _i, name=spec.name: self._changed(name))
            self.table.setCellWidget(r, 1, combo)
            self.combos[spec.name] = combo
            self._show_example(r, spec.name)
        self.detect_dates()

    def mapping(self) -> dict[str, str | None]:
        return {name: combo.currentData() for name, combo in self.combos.items()}

    def _show_example(self, row: int, name: str) -> None:
        header = self.combos[name].currentData()
        table = self.wiz.table
        text = ""
        if header is not None and table is not None:
            text = self.wiz.examples[table.headers.index(header)]
        item = QTableWidgetItem(text[:80])
        item.setToolTip(text[:500])
        self.table.setItem(row, 2, item)

    def _changed(self, name: str) -> None:
        row = next(r for r, spec in enumerate(self.specs) if spec.name == name)
        self._show_example(row, name)
        if self.specs[row].kind == "datetime":
            self.detect_dates()
        self.completeChanged.emit()

    def detect_dates(self) -> ops.OpHandle | None:
        """Find the date format over every value of every mapped date column."""
        table = self.wiz.table
        assert table is not None
        columns = [
            table.headers.index(header)
            for spec in self.specs
            if spec.kind == "datetime" and (header := self.combos[spec.name].currentData())
        ]
        self.date_format.clear()
        self._guess = None
        self.date_note.setText("Looking at the dates…")

        def work(_progress: Progress) -> imp.DateGuess:
            return imp.detect_date_format(row[c] for row in table.rows for c in columns)

        handle = ops.BackgroundOp(
            parent=self, op=work, success=self._dates_found
        ).run_in_background()
        self.busy.track(handle, "Looking at the dates")
        return handle

    def _dates_found(self, guess: imp.DateGuess) -> None:
        self._guess = guess
        self.date_format.clear()
        sample = f" (for example {guess.sample})" if guess.sample else ""
        if guess.format is not None:
            self.date_format.addItem(imp.format_label(guess.format), guess.format)
            self.date_note.setText(f"Every date in the file fits this format{sample}.")
        elif guess.ambiguous:
            self.date_format.addItem("Choose…", None)
            for fmt in guess.candidates:
                self.date_format.addItem(imp.format_label(fmt), fmt)
            self.date_note.setText(
                "<b>The file cannot tell which comes first, day or month</b>"
                f"{html.escape(sample)}: choose the format the export was written in."
            )
        else:
            self.date_note.setText(
                "No date format Servicedeck knows fits every date"
                f"{html.escape(sample)}. Check the columns mapped to dates."
            )
        saved = self.wiz.saved_mapping
        if saved is not None and saved.date_format:
            index = self.date_format.findData(saved.date_format)
            if index >= 0:
                self.date_format.setCurrentIndex(index)
        self.completeChanged.emit()

    def chosen_format(self) -> str | None:
        return self.date_format.currentData()

    def chosen_zone(self) -> dt.tzinfo:
        from zoneinfo import ZoneInfo

        name = self.zone.currentData()
        return ZoneInfo(name) if name else imp.local_zone()

    def missing(self) -> list[str]:
        mapping = self.mapping()
        return [spec.label for spec in self.specs if spec.required and not mapping.get(spec.name)]

    def isComplete(self) -> bool:  # noqa: N802 - Qt name
        return (
            not self.missing()
            and self._guess is not None
            and self.chosen_format() is not None
            and not self.busy.running
        )

    def validatePage(self) -> bool:  # noqa: N802 - Qt name
        self.wiz.mapping = self.mapping()
        self.wiz.date_format = self.chosen_format()
        self.wiz.zone = self.chosen_zone()
        return True

    def save_mapping_dialog(self, path: str | None = None) -> None:
        if path is None:
            path, _ = QFileDialog.getSaveFileName(self, "Save mapping", "", MAPPING_FILTER)
        if not path:
            return
        assert self.wiz.source is not None
        try:
            imp.save_mapping(path, self.wiz.source, self.mapping(), self.chosen_format())
        except (OSError, ImportFileError) as exc:
            self._show_problem(f"The mapping could not be saved: {exc}")
            return
        self.problem.hide()
        self.wiz.say(f"Saved the mapping to {path}")

    def load_mapping_dialog(self, path: str | None = None) -> None:
        if path is None:
            path, _ = QFileDialog.getOpenFileName(self, "Load mapping", "", MAPPING_FILTER)
        if not path:
            return
        try:
            saved = imp.load_mapping(path)
        except ImportFileError as exc:
            self._show_problem(str(exc))
            return
        if saved.source != self.wiz.source:
            self._show_problem(
                f"That mapping is for a {saved.source.label}, not a "
                f"{self.wiz.source.label if self.wiz.source else 'file of this kind'}."
            )
            return
        self.problem.hide()
        self.wiz.saved_mapping = saved
        unknown = []
        for name, header in saved.mapping.items():
            combo = self.combos.get(name)
            if combo is None:
                continue
            index = combo.findData(header) if header else 0
            if index < 0:
                unknown.append(header)
                continue
            combo.setCurrentIndex(index)
        if unknown:
            self._show_problem(
                "These columns of the mapping are not in this file: " + ", ".join(unknown)
            )
        self.detect_dates()

    def _show_problem(self, text: str) -> None:
        self.problem.setText(text)
        self.problem.show()


class PreviewPage(QWizardPage):
    """Every row checked; the first incidents as they will be stored."""

    def __init__(self, wizard: ImportWizard) -> None:
        super().__init__()
        self.wiz = wizard
        self.setTitle("Check and preview")
        self.setSubTitle(
            "Every row is checked before anything is written. The first incidents, as "
            "they will be stored:"
        )
        self.summary = QLabel()
        self.summary.setObjectName("summary")
        self.summary.setWordWrap(True)
        self.problem = problem_label("problem")
        self.table = QTableWidget(0, len(PREVIEW_FIELDS))
        self.table.setObjectName("preview")
        self.table.setAccessibleName("Preview of the first incidents")
        self.table.setHorizontalHeaderLabels([label for _key, label in PREVIEW_FIELDS])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.busy = _Busy()
        self.busy.idle.connect(self.completeChanged)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.problem)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.busy)
        self.setCommitPage(True)
        self.setButtonText(QWizard.WizardButton.CommitButton, "&Import")

    def initializePage(self) -> None:  # noqa: N802 - Qt name
        self.check()

    def cleanupPage(self) -> None:  # noqa: N802 - Qt name
        self.busy.cancel()

    def check(self) -> ops.OpHandle:
        wiz = self.wiz
        wiz.plan = None
        self.problem.hide()
        self.summary.setText("")
        self.table.setRowCount(0)
        table = wiz.table
        assert table is not None
        source, mapping, date_format, zone = wiz.source, wiz.mapping, wiz.date_format, wiz.zone

        def work(progress: Progress) -> ImportPlan:
            return imp.read_plan(
                table,  # as read on the first page: the file is not read again
                source=source,
                mapping=mapping,
                date_format=date_format,
                tz=zone,
                progress=progress,
            )

        handle = (
            ops.BackgroundOp(parent=self, op=work, success=self._checked)
            .failure(self._failed)
            .cancelled(self._cancelled)
            .run_in_background()
        )
        self.busy.track(handle, "Checking rows")
        self.completeChanged.emit()
        return handle

    def _checked(self, plan: ImportPlan) -> None:
        self.wiz.plan = plan
        zone = "UTC" if self.wiz.display_zone is None else "local time"
        self.table.setHorizontalHeaderLabels(
            [f"{label} ({zone})" if key.endswith("_at") else label for key, label in PREVIEW_FIELDS]
        )
        count = len(plan.incidents)
        text = (
            f"<b>{count:,} incident{'s' if count != 1 else ''}</b> from "
            f"{plan.rows_read:,} rows of {html.escape(plan.path.name)}."
        )
        if plan.skipped:
            reasons: dict[str, int] = {}
            for _row, reason in plan.skipped:
                reasons[reason] = reasons.get(reason, 0) + 1
            parts = [f"{n:,} × {html.escape(r)}" for r, n in sorted(reasons.items())]
            text += f" {len(plan.skipped):,} rows will be skipped: " + "; ".join(parts[:5])
        text += " Incidents already in the database (same number) are updated, not duplicated."
        self.summary.setText(text)
        rows = imp.preview_rows(plan, PREVIEW_ROWS, tz=self.wiz.display_zone)
        self.table.setRowCount(len(rows))
        for r, shown in enumerate(rows):
            for c, (key, _label) in enumerate(PREVIEW_FIELDS):
                value = shown.get(key, "")
                item = QTableWidgetItem(value)
                item.setToolTip(value)
                self.table.setItem(r, c, item)
        self.table.resizeColumnsToContents()
        self.completeChanged.emit()

    def _failed(self, exc: BaseException) -> None:
        if not isinstance(exc, ImportFileError):
            ops.show_error(self, exc)
        else:
            self.problem.setText(
                f"{exc}\n\nNothing was imported. Go back to change the mapping or the date "
                "format, or correct the file and choose it again."
            )
            self.problem.show()
        self.completeChanged.emit()

    def _cancelled(self) -> None:
        self.summary.setText("Checking was cancelled. Nothing was imported.")
        self.completeChanged.emit()

    def isComplete(self) -> bool:  # noqa: N802 - Qt name
        return self.wiz.plan is not None and not self.busy.running


class RunPage(QWizardPage):
    """The import itself, in one transaction; then what it did."""

    def __init__(self, wizard: ImportWizard) -> None:
        super().__init__()
        self.wiz = wizard
        self.setTitle("Import")
        self.result = QLabel()
        self.result.setObjectName("result")
        self.result.setWordWrap(True)
        self.result.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.problem = problem_label("problem")
        self.busy = _Busy()
        self.busy.idle.connect(self.completeChanged)
        layout = QVBoxLayout(self)
        layout.addWidget(self.busy)
        layout.addWidget(self.result)
        layout.addWidget(self.problem)
        layout.addStretch(1)
        self.done = False

    def initializePage(self) -> None:  # noqa: N802 - Qt name
        self.run()

    def run(self) -> ops.OpHandle:
        from app.services.io.incident_import import write_plan

        wiz = self.wiz
        plan, db = wiz.plan, wiz.db
        assert plan is not None
        self.done = False
        self.problem.hide()
        self.result.setText("")

        def work(progress: Progress):
            return write_plan(
                db,
                plan,
                progress=progress,
            )

        handle = (
            ops.BackgroundOp(parent=self, op=work, success=self._written)
            .failure(self._failed)
            .cancelled(self._cancelled)
            .run_in_background()
        )
        self.busy.track(handle, "Importing")
        self.completeChanged.emit()
        return handle

    def _written(self, summary: Any) -> None:
        self.done = True
        self.wiz.summary = summary
        lines = summary.lines()
        self.result.setText("<br>".join(html.escape(line) for line in lines))
        self.wiz.say(lines[0] if lines else "Imported")
        self.wiz.imported.emit(summary)
        self.completeChanged.emit()

    def _failed(self, exc: BaseException) -> None:
        self.done = True
        if isinstance(exc, ImportFileError):
            text = str(exc)
        else:
            text = ops.error_box(self, exc).text()
        self.problem.setText(f"{text}\n\nNothing was imported: the database is as it was.")
        self.problem.show()
        self.completeChanged.emit()

    def _cancelled(self) -> None:
        self.done = True
        self.result.setText("The import was cancelled. Nothing was imported.")
        self.completeChanged.emit()

    def isComplete(self) -> bool:  # noqa: N802 - Qt name
        return self.done


class ImportWizard(QWizard):
    """The whole import, one page per step."""

    #: The import was written; the argument is its ImportSummary.
    imported = Signal(object)

    def __init__(
        self, db: Database, parent: QWidget | None = None, *, display_zone: dt.tzinfo | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("importWizard")
        self.setWindowTitle("Import incidents")
        self.setWizardStyle(QWizard.WizardStyle.ClassicStyle)
        self.setOption(QWizard.WizardOption.NoBackButtonOnLastPage, True)
        self.setOption(QWizard.WizardOption.NoCancelButtonOnLastPage, True)
        self.db = db
        self.display_zone = display_zone
        self.table: imp.Table | None = None
        #: The first value of each column that is not empty (read with the table).
        self.examples: list[str] = []
        self.source: ImportSource | None = None
        self.mapping: dict[str, str | None] = {}
        self.date_format: str | None = None
        self.zone: dt.tzinfo | None = None
        self.saved_mapping: imp.MappingFile | None = None
        self.plan: ImportPlan | None = None
        self.summary: Any = None
        self.file_page = FilePage(self)
        self.mapping_page = MappingPage(self)
        self.preview_page = PreviewPage(self)
        self.run_page = RunPage(self)
        for page in (self.file_page, self.mapping_page, self.preview_page, self.run_page):
            self.addPage(page)
        self.resize(980, 680)

    def say(self, text: str) -> None:
        """A status-bar message in the window the wizard belongs to."""
        window = self.parentWidget().window() if self.parentWidget() else None
        bar = getattr(window, "statusBar", None)
        if callable(bar):
            bar().showMessage(text, 10_000)

    def reject(self) -> None:
        for page in (self.file_page, self.mapping_page, self.preview_page, self.run_page):
            page.busy.cancel()
        super().reject()


def open_import_wizard(
    parent: QWidget | None, db: Database, *, path: str | Path | None = None
) -> ImportWizard:
    """Show the wizard (non-modal); with ``path`` the file is read at once."""
    wizard = ImportWizard(db, parent)
    wizard.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    wizard.show()
    if path is not None:
        wizard.file_page.load(path)
    return wizard
