"""The one way Servicedeck writes workbooks: text that is never a formula, files renamed into
place, and large tables streamed row by row with real date and number cells.

Rich workbooks (reviews, scorecards) use a normal openpyxl ``Workbook`` and put values with
:func:`put`, then :func:`save_workbook`. Large tables go through :class:`StreamedWorkbook`
(openpyxl ``write_only``): a bold, frozen header row, an autofilter over the data, column
widths from the header and a sample of the values, progress and cancel.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from itertools import islice
from pathlib import Path
from typing import Any, Literal
from xml.sax.saxutils import escape
from zipfile import ZIP_DEFLATED, ZipFile

from openpyxl import Workbook
from openpyxl.cell import Cell, WriteOnlyCell
from openpyxl.cell.cell import MergedCell
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.properties import PageSetupProperties
from openpyxl.writer.excel import ExcelWriter

from app.services.progress import Progress

DATETIME_FORMAT = "yyyy-mm-dd hh:mm"
DATE_FORMAT = "yyyy-mm-dd"
#: Text starting with one of these would be taken for a formula by a spreadsheet.
RISKY_STARTS = ("=", "+", "-", "@", "\t", "\r")
#: Control characters an xlsx file cannot hold (openpyxl's own rule).
_ILLEGAL = re.compile(r"[\000-\010]|[\013-\014]|[\016-\037]")
MAX_CELL_TEXT = 32_767
_ODD_FIRST = frozenset(RISKY_STARTS)
_RIGHT_ALIGNED = frozenset({"int", "float", "datetime", "date"})
_EPOCH = dt.datetime(1899, 12, 30)
_EPOCH_DATE = _EPOCH.date()
_EPOCH_UTC = _EPOCH.replace(tzinfo=dt.UTC)
#: Column widths, in characters.
MIN_WIDTH = 6
MAX_WIDTH = 60
#: Rows read before the first is written, to size the columns.
WIDTH_SAMPLE = 200
PROGRESS_EVERY = 2_000

Kind = Literal["auto", "text", "int", "float", "bool", "datetime", "date"]


def is_risky(text: str) -> bool:
    """Whether ``text`` would start a formula if a spreadsheet read it as typed."""
    return text.startswith(RISKY_STARTS)


def clean_text(text: str) -> str:
    """``text`` without the control characters a workbook cannot hold, cut to a cell's limit."""
    if _ILLEGAL.search(text):
        text = _ILLEGAL.sub("", text)
    return text[:MAX_CELL_TEXT]


def excel_value(value: Any, zone: dt.tzinfo | None = None) -> Any:
    """``value`` as a cell holds it: aware instants become naive in ``zone`` (default: local)."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(zone).replace(tzinfo=None)
        return value.replace(microsecond=0)
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, Enum):
        return value.value
    return value


def safe_text(cell: Cell | WriteOnlyCell, value: object) -> Cell | WriteOnlyCell:
    """Put ``value`` in ``cell`` as text, never as a formula (a quote prefix keeps it so)."""
    text = clean_text(str(value))
    cell.value = text
    cell.data_type = "s"
    if is_risky(text):
        cell.quotePrefix = True
    return cell


def put(
    cell: Cell | WriteOnlyCell, value: Any, zone: dt.tzinfo | None = None
) -> Cell | WriteOnlyCell:
    """Put ``value`` in ``cell`` as the cell type it deserves: dates as dates, text as text."""
    value = excel_value(value, zone)
    if isinstance(value, str):
        return safe_text(cell, value)
    if isinstance(cell, MergedCell):
        raise ValueError(f"cell {cell.coordinate} is merged into another")
    cell.value = value
    if isinstance(value, dt.datetime):
        cell.number_format = DATETIME_FORMAT
    elif isinstance(value, dt.date):
        cell.number_format = DATE_FORMAT
    return cell


def fit_to_width(ws: Any, *, landscape: bool = True, header_rows: int = 0) -> None:
    """Print the sheet one page wide and as many tall as it needs, repeating its header."""
    ws.page_setup.orientation = "landscape" if landscape else "portrait"
    if ws.sheet_properties.pageSetUpPr is None:
        ws.sheet_properties.pageSetUpPr = PageSetupProperties()
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    if header_rows:
        ws.print_title_rows = f"1:{header_rows}"


def _umask() -> int:
    # Only Linux says without changing it; elsewhere assume the usual default.
    with suppress(OSError, ValueError), open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    return 0o022


@contextmanager
def atomic_output(path: str | os.PathLike[str]) -> Iterator[Path]:
    """A temporary path beside ``path``, renamed onto it only if the block succeeds.

    A failure or a cancel removes the temporary file and leaves an existing ``path`` as it was.
    """
    target = Path(path)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    os.close(fd)
    temporary = Path(name)
    try:
        yield temporary
        os.chmod(temporary, 0o666 & ~_umask())
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def save_workbook(workbook: Workbook, path: str | os.PathLike[str]) -> None:
    """Save ``workbook`` to ``path`` through a temporary file renamed into place."""
    with atomic_output(path) as temporary:
        workbook.save(temporary)


@dataclass(frozen=True)
class Column:
    """A column of a streamed table: its header, the kind of its cells, a width if fixed."""

    header: str
    kind: Kind = "auto"
    width: float | None = None


def _sample_width(value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, dt.datetime):
        return 16
    if isinstance(value, dt.date):
        return 10
    if isinstance(value, float):
        return len(f"{value:.2f}")
    text = str(value)
    return max((len(line) for line in text.splitlines()), default=0)


def column_widths(columns: Sequence[Column], sample: Sequence[Sequence[Any]]) -> list[float]:
    """Widths that fit the header (and its filter button) and the longest sampled value."""
    widths = []
    for index, column in enumerate(columns):
        if column.width is not None:
            widths.append(column.width)
            continue
        longest = max((_sample_width(row[index]) for row in sample if index < len(row)), default=0)
        wanted = max(len(column.header) + 3, longest) + 2
        widths.append(float(min(max(wanted, MIN_WIDTH), MAX_WIDTH)))
    return widths


class _CellXml:
    """Writes data cells as XML text: a whole row at a time, without an element per cell.

    openpyxl without lxml builds and serialises an ElementTree element for every cell
    (about 7 microseconds each); a table of 100,000 rows by 25 columns then takes
    20 seconds. The cells of a table are simple enough to write as text directly.
    """

    def __init__(self, ws: Any, zone: dt.tzinfo | None) -> None:
        self.zone = zone
        self._offsets: dict[int, float] = {}
        self.datetime_style = self._style_id(ws, number_format=DATETIME_FORMAT)
        self.date_style = self._style_id(ws, number_format=DATE_FORMAT)
        self.quoted_style = self._style_id(ws, quote_prefix=True)

    @staticmethod
    def _style_id(ws: Any, number_format: str | None = None, quote_prefix: bool = False) -> int:
        cell = WriteOnlyCell(ws)
        if number_format:
            cell.number_format = number_format
        if quote_prefix:
            cell.quotePrefix = True
        return cell.style_id

    def writer(self, kind: Kind) -> Callable[[str, Any], str]:
        return {
            "text": self.text,
            "int": self.number,
            "float": self.number,
            "bool": self.boolean,
            "datetime": self.datetime,
            "date": self.date,
        }.get(kind, self.auto)

    def text(self, ref: str, value: Any) -> str:
        text = value if type(value) is str else str(value)
        if _ILLEGAL.search(text) or len(text) > MAX_CELL_TEXT:
            text = clean_text(text)
        if "&" in text or "<" in text or ">" in text:
            text = escape(text)
        if text[:1] in _ODD_FIRST or text[:1].isspace() or text[-1:].isspace():
            style = f' s="{self.quoted_style}"' if text.startswith(RISKY_STARTS) else ""
            space = ' xml:space="preserve"' if text[:1].isspace() or text[-1:].isspace() else ""
            return f'<c r="{ref}" t="inlineStr"{style}><is><t{space}>{text}</t></is></c>'
        return f'<c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c>'

    def number(self, ref: str, value: Any) -> str:
        if isinstance(value, float) and not math.isfinite(value):
            return ""
        if isinstance(value, Decimal):
            value = float(value)
        return f'<c r="{ref}"><v>{value}</v></c>'

    def boolean(self, ref: str, value: Any) -> str:
        return f'<c r="{ref}" t="b"><v>{int(bool(value))}</v></c>'

    def datetime(self, ref: str, value: dt.datetime) -> str:
        if value.tzinfo is None:
            seconds = (value - _EPOCH).total_seconds()
        else:
            seconds = (value - _EPOCH_UTC).total_seconds()
            seconds += self._offset(value, seconds)
        return f'<c r="{ref}" s="{self.datetime_style}"><v>{seconds / 86_400!r}</v></c>'

    def _offset(self, value: dt.datetime, utc_seconds: float) -> float:
        # Zones change offset on quarter hours, so one lookup serves each quarter hour
        # (converting every instant costs more than the rest of the cell).
        quarter = int(utc_seconds // 900)
        offset = self._offsets.get(quarter)
        if offset is None:
            delta = value.astimezone(self.zone).utcoffset()
            offset = self._offsets[quarter] = delta.total_seconds() if delta else 0.0
        return offset

    def date(self, ref: str, value: dt.date) -> str:
        if isinstance(value, dt.datetime):
            return self.datetime(ref, value)
        return f'<c r="{ref}" s="{self.date_style}"><v>{(value - _EPOCH_DATE).days}</v></c>'

    def auto(self, ref: str, value: Any) -> str:
        if isinstance(value, bool):
            return self.boolean(ref, value)
        if isinstance(value, (int, float, Decimal)):
            return self.number(ref, value)
        if isinstance(value, dt.datetime):
            return self.datetime(ref, value)
        if isinstance(value, dt.date):
            return self.date(ref, value)
        if isinstance(value, Enum):
            return self.auto(ref, value.value)
        return self.text(ref, value)


class StreamedWorkbook:
    """A write-only workbook of tables, each streamed row by row, saved atomically."""

    def __init__(self, zone: dt.tzinfo | None = None) -> None:
        self.workbook = Workbook(write_only=True)
        self.zone = zone
        self._sinks: list[_RowSink] = []

    def add_table(
        self,
        title: str,
        columns: Sequence[Column],
        rows: Iterable[Sequence[Any]],
        *,
        total: int = 0,
        progress: Progress | None = None,
        label: str = "Writing rows",
    ) -> int:
        """Write a sheet of ``rows`` under a header of ``columns``; returns the rows written.

        ``progress.update`` is called every few thousand rows and raises
        :class:`~app.services.progress.Cancelled` when the user cancels.
        """
        progress = progress or Progress()
        progress.update(0, total, label)
        ws = self.workbook.create_sheet(title[:31])
        rows = iter(rows)
        sample = list(islice(rows, WIDTH_SAMPLE))
        last = get_column_letter(max(len(columns), 1))
        for index, width in enumerate(column_widths(columns, sample), 1):
            ws.column_dimensions[get_column_letter(index)].width = width
        ws.freeze_panes = "A2"
        sink = _RowSink(ws, columns, self.zone)
        self._sinks.append(sink)
        try:
            sink.header()
            written = 0
            for values in sample:
                written = sink.row(values)
            progress.update(written, total, label)
            for values in rows:
                written = sink.row(values)
                if written % PROGRESS_EVERY == 0:
                    progress.update(written, total, label)
            progress.update(written, max(total, written), label)
        except BaseException:
            sink.discard()
            raise
        ws.auto_filter.ref = f"A1:{last}{written + 1}"
        return written

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the workbook to ``path`` (temporary file renamed into place)."""
        try:
            with atomic_output(path) as temporary:
                self.write(temporary)
        except BaseException:
            self.discard()
            raise

    def write(self, path: str | os.PathLike[str]) -> None:
        """Write the workbook to ``path`` as it is (inside :func:`atomic_output`)."""
        # openpyxl's own save compresses at level 6: a third of a large export's time,
        # for a file only a fifth smaller than level 1 gives.
        with ZipFile(path, "w", ZIP_DEFLATED, allowZip64=True, compresslevel=1) as archive:
            self.workbook.properties.modified = dt.datetime.now(dt.UTC).replace(tzinfo=None)
            ExcelWriter(self.workbook, archive).save()

    def discard(self) -> None:
        """Give the workbook up unsaved, removing openpyxl's temporary files."""
        for sink in self._sinks:
            sink.discard()
        self._sinks.clear()


class _RowSink:
    """The sheet's ``<sheetData>``, fed one row at a time in openpyxl's write-only protocol."""

    #: Write data rows as XML text when the XML writer allows it (else openpyxl's cells).
    write_text = True

    def __init__(self, ws: Any, columns: Sequence[Column], zone: dt.tzinfo | None) -> None:
        self.ws = ws
        self.columns = columns
        self.zone = zone
        self.letters = [get_column_letter(i) for i in range(1, len(columns) + 1)]
        cells = _CellXml(ws, zone)
        self.writers = [cells.writer(c.kind) for c in columns]
        self.row_number = 1
        # Writes the sheet's top (views with the frozen row, column widths), then hands
        # over the stream; closing ``ws._rows`` (as ws.close() does on save) ends sheetData.
        ws._get_writer()
        self.writer = ws._writer
        self.xf = self.writer.xf.send(True)
        # et_xmlfile's writer takes raw text; lxml's does not, and with lxml openpyxl's own
        # cell writer is fast enough.
        self.raw: Callable[[str], Any] | None = (
            getattr(self.xf, "_file", None) if self.write_text else None
        )
        self.sheet_data = self.xf.element("sheetData")
        self.sheet_data.__enter__()
        ws._rows = self._closer()
        next(ws._rows)

    def _closer(self) -> Iterator[None]:
        try:
            yield
        except GeneratorExit:
            pass
        self.sheet_data.__exit__(None, None, None)
        self.writer.xf.send(None)

    def header(self) -> None:
        bold = Font(bold=True)
        cells = []
        for index, column in enumerate(self.columns, 1):
            cell = safe_text(WriteOnlyCell(self.ws), column.header)
            cell.font = bold
            if column.kind in _RIGHT_ALIGNED:
                # Over numbers and dates, which Excel aligns right.
                cell.alignment = Alignment(horizontal="right")
            cell.row, cell.column = 1, index
            cells.append(cell)
        self.writer.write_row(self.xf, cells, 1)

    def row(self, values: Sequence[Any]) -> int:
        """Write one data row; returns how many data rows have been written."""
        self.row_number += 1
        n = self.row_number
        if self.raw is not None:
            cells = [
                write(f"{letter}{n}", value)
                for write, letter, value in zip(self.writers, self.letters, values, strict=False)
                if value is not None
            ]
            self.raw(f'<row r="{n}">{"".join(cells)}</row>')
        else:
            cells = []
            for index, value in enumerate(values, 1):
                if value is not None:
                    cell = put(WriteOnlyCell(self.ws), value, self.zone)
                    cell.row, cell.column = n, index
                    cells.append(cell)
            self.writer.write_row(self.xf, cells, n)
        return n - 1

    def discard(self) -> None:
        """Give up the sheet and remove openpyxl's temporary file for it."""
        if self.ws.closed:
            return
        with suppress(Exception):
            self.ws._rows.close()
            self.writer.close()
        with suppress(Exception):
            self.writer.cleanup()
        self.ws._rows = None


def write_table(
    path: str | os.PathLike[str],
    columns: Sequence[Column],
    rows: Iterable[Sequence[Any]],
    *,
    title: str = "Data",
    total: int = 0,
    progress: Progress | None = None,
    zone: dt.tzinfo | None = None,
) -> int:
    """Write one streamed table to a new workbook at ``path``; returns the rows written."""
    book = StreamedWorkbook(zone)
    written = book.add_table(title, columns, rows, total=total, progress=progress)
    book.save(path)
    return written
