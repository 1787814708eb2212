"""Read ServiceNow and Jira Service Management exports into an :class:`ImportPlan`.

The steps, each usable on its own by the import wizard:

1. :func:`read_table` reads a CSV (encoding and delimiter detected) or XLSX file into text
   cells, refusing files it cannot read with a sentence that says why.
2. :func:`detect_source` tells the export shape from the headers; :func:`propose_mapping`
   matches headers to the fields an incident can take (:func:`fields_for`).
3. :func:`detect_date_format` looks at every date of the file and says which formats fit;
   when day-first and month-first both fit, the user is asked.
4. :func:`read_plan` converts and checks every row, groups the rows of one incident (event
   logs and audit exports) and returns the plan; the first bad row stops it with a message
   naming the file, row, column and value. Nothing here touches the database.

Conversions are done per column and cached per distinct text, so a 150,000-row event log
(whose dates and names repeat) reads in about a second.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, fields
from itertools import compress, repeat
from operator import itemgetter, methodcaller, ne
from pathlib import Path
from typing import Any

from dateutil import tz as dateutil_tz

from app.models.enums import HoldReason, IncidentState
from app.services.io import jsm, servicenow
from app.services.io.excel import atomic_output
from app.services.io.records import (
    ImportedEvent,
    ImportedIncident,
    ImportFileError,
    ImportPlan,
    ImportSource,
)
from app.services.memory import collector_paused
from app.services.progress import Cancelled, Progress, silent

#: Marker for ISO 8601 dates in :class:`DateGuess` and mapping files (a plan says ``None``).
ISO_8601 = "ISO 8601"
#: The longest cell accepted (characters); longer means a broken quote or not an export.
MAX_FIELD = 131_072
#: Length limits of the incident columns the text goes into.
MAX_NUMBER = 20
MAX_SHORT_DESCRIPTION = 200
#: How often (rows) long loops report progress and look for a cancel.
PROGRESS_EVERY = 10_000

_NO_VALUE = frozenset({"", "?"})
_UTC = dt.UTC


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class Table:
    """A file's cells as text. ``rows[i]`` is spreadsheet row ``i + 2`` (the header is 1).

    Every row has exactly ``len(headers)`` cells; a blank line is a row of empty cells.
    """

    path: Path
    headers: list[str]
    rows: list[tuple[str, ...]]


@collector_paused()
def read_table(path: Path | str) -> Table:
    """Read a ``.csv`` or ``.xlsx`` export into text cells.

    CSV: UTF-8 (with or without BOM), UTF-16 with a BOM, or Windows-1252; the delimiter
    (comma, semicolon or tab) is taken from the header line. XLSX: the first sheet, read
    only; date cells become ISO text (``2024-03-01 10:00:00``).

    Raises :class:`ImportFileError` naming the file for a missing file, another file type,
    an unreadable encoding, NUL bytes, an empty file or header, duplicate headers, a cell
    over :data:`MAX_FIELD` characters, a broken quote, or a row with more or fewer cells
    than the header (naming the row).
    """
    return _read_table(Path(path), None)


def _read_table(path: Path, cancelled: Callable[[], bool] | None) -> Table:
    name = path.name
    if not path.exists():
        raise ImportFileError(f"{name}: the file does not exist ({path}).", file=path)
    if not path.is_file():
        raise ImportFileError(f"{name}: is a folder, not a file.", file=path)
    suffix = path.suffix.lower()
    if suffix in (".csv", ".txt", ".tsv"):
        headers, rows = _read_csv(path, cancelled)
    elif suffix in (".xlsx", ".xlsm"):
        headers, rows = _read_xlsx(path, cancelled)
    else:
        raise ImportFileError(
            f"{name}: is not a CSV or XLSX file (export the list as CSV or Excel .xlsx).",
            file=path,
        )
    # Tuples of strings: the garbage collector stops tracking them once it has seen them,
    # so a table of 150,000 rows does not make every later collection scan it again.
    return Table(path, headers, [r if type(r) is tuple else tuple(r) for r in rows])


def _decode(path: Path, data: bytes) -> str:
    name = path.name
    if data.startswith(codecs.BOM_UTF8):
        encoding, data = "UTF-8", data[len(codecs.BOM_UTF8) :]
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "UTF-16"
    else:
        encoding = ""
    if encoding != "UTF-16" and b"\x00" in data:
        raise ImportFileError(
            f"{name}: contains NUL bytes, so it is not a text export "
            "(a UTF-16 file without a byte-order mark, or a binary file).",
            file=path,
        )
    try:
        if encoding == "UTF-16":
            text = data.decode("utf-16")
        else:
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                encoding = "Windows-1252"
                text = data.decode("cp1252")
    except UnicodeDecodeError as exc:
        raise ImportFileError(
            f"{name}: is not readable text in {encoding or 'UTF-8'} "
            f"(byte {exc.object[exc.start]:#04x} at position {exc.start}); "
            "save it again as CSV UTF-8.",
            file=path,
        ) from None
    if "\x00" in text:
        raise ImportFileError(
            f"{name}: contains NUL characters; it is not a text export.", file=path
        )
    return text


def _sniff_delimiter(text: str) -> str:
    line = text[: text.find("\n")] if "\n" in text else text
    counts = {d: line.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] > 0 else ","


def _read_csv(
    path: Path, cancelled: Callable[[], bool] | None
) -> tuple[list[str], list[tuple[str, ...]]]:
    name = path.name
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImportFileError(f"{name}: cannot be read ({exc.strerror}).", file=path) from None
    text = _decode(path, data)
    if text.startswith("\ufeff"):
        text = text[1:]
    if not text.strip():
        raise ImportFileError(f"{name}: is empty.", file=path)
    reader = csv.reader(
        io.StringIO(text, newline=""), delimiter=_sniff_delimiter(text), strict=True
    )
    rows: list[tuple[str, ...]] = []
    try:
        # Row by row, not list(reader): one long call would hold the interpreter lock for
        # the whole file and freeze the window reading it in the background.
        append = rows.append
        for i, row in enumerate(reader):
            if cancelled is not None and i % PROGRESS_EVERY == 0 and cancelled():
                raise Cancelled()
            append(tuple(row))
    except csv.Error as exc:
        at = len(rows) + 1
        reason = str(exc)
        if "field larger than field limit" in reason:
            reason = f"a cell is longer than {MAX_FIELD:,} characters"
        elif "unexpected end of data" in reason or "EOF" in reason:
            reason = "a quoted cell is never closed (truncated file or stray quote)"
        raise ImportFileError(
            f"{name}, row {at}: cannot be read as CSV: {reason}.", file=path, row=at
        ) from None
    if not any(c.strip() for c in rows[0]):
        raise ImportFileError(f"{name}: has no header row (the first line is empty).", file=path)
    headers = [h.strip() for h in rows[0]]
    body = rows[1:]
    return _check_shape(path, headers, body)


def _check_shape(path: Path, headers: list[str], body: list[Any]) -> tuple[list[str], list[Any]]:
    name = path.name
    # A header row that ends with delimiters (trailing empty names) is common: drop them.
    while headers and headers[-1] == "":
        headers.pop()
    if not headers:
        raise ImportFileError(f"{name}: has no header row.", file=path)
    seen: dict[str, int] = {}
    # Jira writes one column per value of a multi-value field (Labels, Comment, ...) under
    # the same header: allowed there, and a mapping takes the first of them.
    jira = detect_source(headers) is ImportSource.JSM
    for i, h in enumerate(headers):
        if len(h) > 200:
            raise ImportFileError(
                f"{name}: the header of column {i + 1} is {len(h):,} characters long; "
                "the first row must hold column names.",
                file=path,
                row=1,
            )
        if not h:
            continue
        key = h.casefold()
        if key in seen and not jira:
            raise ImportFileError(
                f'{name}: the header "{h}" appears twice (columns {seen[key] + 1} and {i + 1}); '
                "rename one of them.",
                file=path,
                row=1,
                column=h,
            )
        seen[key] = i
    n = len(headers)
    blank = ("",) * n
    for i, row in enumerate(body):
        size = len(row)
        if size == n:
            continue
        if size == 0:
            body[i] = blank
        elif size > n and not any(c.strip() for c in row[n:]):
            body[i] = row[:n]
        else:
            r = i + 2
            what = "fewer" if size < n else "more"
            raise ImportFileError(
                f"{name}, row {r}: has {size} cells but the header has {n} "
                f"({what} cells than columns: a truncated or ragged line, or an unquoted "
                "delimiter inside a value).",
                file=path,
                row=r,
            )
    return headers, body


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        if value.microsecond:
            value = (value + dt.timedelta(microseconds=500_000)).replace(microsecond=0)
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _read_xlsx(path: Path, cancelled: Callable[[], bool] | None) -> tuple[list[str], list[list]]:
    from openpyxl import load_workbook

    name = path.name
    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a broken file
        raise ImportFileError(
            f"{name}: is not a readable Excel workbook ({type(exc).__name__}: {exc}).", file=path
        ) from None
    try:
        ws = wb.worksheets[0] if wb.worksheets else None
        if ws is None:
            raise ImportFileError(f"{name}: the workbook has no sheet.", file=path)
        rows: list[list[str]] = []
        for i, values in enumerate(ws.iter_rows(values_only=True)):
            if cancelled is not None and i % PROGRESS_EVERY == 0 and cancelled():
                raise Cancelled()
            row = [_cell_text(v) for v in values]
            for c in row:
                if len(c) > MAX_FIELD or "\x00" in c:
                    raise ImportFileError(
                        f"{name}, row {i + 1}: a cell is longer than {MAX_FIELD:,} characters "
                        "or holds NUL characters.",
                        file=path,
                        row=i + 1,
                    )
            rows.append(row)
    except (ImportFileError, Cancelled):
        raise
    except Exception as exc:
        raise ImportFileError(
            f"{name}: the workbook cannot be read ({type(exc).__name__}: {exc}).", file=path
        ) from None
    finally:
        wb.close()
    while rows and not any(c.strip() for c in rows[-1]):
        rows.pop()
    if not rows:
        raise ImportFileError(f"{name}: the first sheet is empty.", file=path)
    if not any(c.strip() for c in rows[0]):
        raise ImportFileError(f"{name}: has no header row (the first row is empty).", file=path)
    headers = [h.strip() for h in rows[0]]
    while headers and headers[-1] == "":
        headers.pop()
    n = len(headers)
    body = []
    for i, row in enumerate(rows[1:]):
        if len(row) > n and any(c.strip() for c in row[n:]):
            raise ImportFileError(
                f"{name}, row {i + 2}: has a value beyond the last named column.",
                file=path,
                row=i + 2,
            )
        body.append((row + [""] * (n - len(row)))[:n])
    return _check_shape(path, headers, body)


# --------------------------------------------------------------------------- sources, fields


@dataclass(frozen=True)
class FieldSpec:
    """A field a mapping can fill: ``name`` as on :class:`ImportedIncident` (or one of the
    helpers ``updated_by`` and ``issue_type``), the label the wizard shows, whether a column
    for it is required, and its kind (``text``, ``state``, ``hold_reason``, ``impact``,
    ``urgency``, ``priority``, ``datetime``, ``bool``, ``count``)."""

    name: str
    label: str
    required: bool = False
    kind: str = "text"


_FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("number", "Number", True),
    FieldSpec("short_description", "Short description", True),
    FieldSpec("description", "Description"),
    FieldSpec("state", "State", True, "state"),
    FieldSpec("hold_reason", "On hold reason", False, "hold_reason"),
    FieldSpec("impact", "Impact", False, "impact"),
    FieldSpec("urgency", "Urgency", False, "urgency"),
    FieldSpec("priority", "Priority", False, "priority"),
    FieldSpec("category", "Category"),
    FieldSpec("subcategory", "Subcategory"),
    FieldSpec("contact_type", "Channel"),
    FieldSpec("caller", "Caller"),
    FieldSpec("assignment_group", "Assignment group"),
    FieldSpec("assignee", "Assigned to"),
    FieldSpec("service", "Service"),
    FieldSpec("ci", "Configuration item"),
    FieldSpec("vendor", "Vendor"),
    FieldSpec("problem", "Problem"),
    FieldSpec("change", "Change request"),
    FieldSpec("caused_by", "Caused by change"),
    FieldSpec("opened_at", "Opened", True, "datetime"),
    FieldSpec("updated_at", "Updated", False, "datetime"),
    FieldSpec("resolved_at", "Resolved", False, "datetime"),
    FieldSpec("closed_at", "Closed", False, "datetime"),
    FieldSpec("resolution_code", "Resolution code"),
    FieldSpec("resolution_notes", "Resolution notes"),
    FieldSpec("made_sla", "Made SLA", False, "bool"),
    FieldSpec("reassignment_count", "Reassignment count", False, "count"),
    FieldSpec("reopen_count", "Reopen count", False, "count"),
    FieldSpec("updated_by", "Updated by"),
)

#: Fields whose change between two rows of an event log becomes an :class:`ImportedEvent`.
TRACKED_FIELDS: tuple[str, ...] = (
    "state",
    "hold_reason",
    "impact",
    "urgency",
    "priority",
    "assignment_group",
    "assignee",
    "short_description",
    "category",
    "subcategory",
    "contact_type",
    "caller",
    "service",
    "ci",
    "vendor",
    "problem",
    "change",
    "caused_by",
    "resolution_code",
    "made_sla",
)


def _norm(header: str) -> str:
    return re.sub(r"\s+", " ", header.strip().casefold())


def _aliases(source: ImportSource) -> dict[str, tuple[str, ...]]:
    if source is ImportSource.SERVICENOW_EVENTS:
        return servicenow.EVENT_ALIASES
    if source is ImportSource.JSM:
        return jsm.ALIASES
    return servicenow.LIST_ALIASES


def fields_for(source: ImportSource) -> list[FieldSpec]:
    """The fields a mapping for ``source`` can fill, in the order the wizard lists them."""
    source = ImportSource(source)
    out = []
    for spec in _FIELDS:
        if source is ImportSource.SERVICENOW_EVENTS and spec.name == "short_description":
            spec = FieldSpec(spec.name, spec.label, False, spec.kind)
        if source is ImportSource.JSM:
            if spec.name in ("problem", "change", "caused_by", "closed_at", "made_sla"):
                continue
            if spec.name in ("reassignment_count", "reopen_count", "updated_by"):
                continue
        out.append(spec)
        if source is ImportSource.JSM and spec.name == "number":
            out.append(FieldSpec("issue_type", "Issue type"))
    return out


def detect_source(headers: Sequence[str]) -> ImportSource | None:
    """The export shape the headers belong to, or ``None`` when none fits."""
    names = {_norm(h) for h in headers}
    if "issue key" in names or ("key" in names and "summary" in names and "status" in names):
        return ImportSource.JSM
    if "number" in names:
        if names & servicenow.EVENT_MARKERS:
            return ImportSource.SERVICENOW_EVENTS
        if names & servicenow.LIST_MARKERS:
            return ImportSource.SERVICENOW_LIST
    return None


def propose_mapping(source: ImportSource, headers: Sequence[str]) -> dict[str, str | None]:
    """For every field of :func:`fields_for`, the header that fills it (``None``: none).

    Headers are matched to the source's known names ignoring case and repeated spaces;
    a header fills at most one field.
    """
    source = ImportSource(source)
    by_norm: dict[str, str] = {}
    for h in headers:
        by_norm.setdefault(_norm(h), h)
    aliases = _aliases(source)
    used: set[str] = set()
    mapping: dict[str, str | None] = {}
    for spec in fields_for(source):
        found = None
        for alias in aliases.get(spec.name, ()):
            h = by_norm.get(alias)
            if h is not None and h not in used:
                found = h
                break
        if found is not None:
            used.add(found)
        mapping[spec.name] = found
    return mapping


def _resolve_mapping(
    path: Path,
    source: ImportSource,
    headers: Sequence[str],
    mapping: dict[str, str | None] | None,
) -> dict[str, str | None]:
    name = path.name
    specs = {s.name: s for s in fields_for(source)}
    result = propose_mapping(source, headers)
    if mapping:
        for field_name, header in mapping.items():
            if field_name not in specs:
                raise ImportFileError(
                    f'{name}: the mapping names "{field_name}", which is not a field of a '
                    f"{source.label} import.",
                    file=path,
                )
            result[field_name] = header or None
    present = set(headers)
    for field_name, header in result.items():
        if header is not None and header not in present:
            raise ImportFileError(
                f'{name}: the column "{header}" (mapped to {specs[field_name].label}) is not in '
                "the file.",
                file=path,
                column=header,
            )
        if header is None and specs[field_name].required:
            raise ImportFileError(
                f"{name}: no column holds {specs[field_name].label} ({field_name}); "
                "map a column to it.",
                file=path,
                column=field_name,
            )
    return result


# --------------------------------------------------------------------------- dates


@dataclass(frozen=True)
class DateGuess:
    """What :func:`detect_date_format` found.

    ``format`` is the one format that fits (a strptime format, or :data:`ISO_8601`), else
    ``None``: either several fit (``candidates`` lists them, the user chooses) or none fits
    (``candidates`` is empty and ``sample`` is a value that fits no known format).
    ``sample`` is otherwise a value that shows the format.
    """

    format: str | None
    candidates: tuple[str, ...]
    sample: str | None

    @property
    def ambiguous(self) -> bool:
        return len(self.candidates) > 1


class AmbiguousDateFormat(ImportFileError):
    """The dates fit more than one format (e.g. 03/04/2024); the user must choose one."""

    def __init__(
        self,
        message: str,
        candidates: tuple[str, ...],
        *,
        file: str | Path | None = None,
        sample: str | None = None,
    ) -> None:
        super().__init__(message, file=file, value=sample)
        self.candidates = candidates


_D_YMD = re.compile(r"(\d{4})([-/.])(\d{1,2})\2(\d{1,2})")
_D_NUM = re.compile(r"(\d{1,2})([/.-])(\d{1,2})\2(\d{4})")
_D_MON = re.compile(r"(\d{1,2})([/-])([A-Za-z]{3})\2(\d{2}|\d{4})")
_T = re.compile(
    r"(\d{1,2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,6})\d*)?)?\s*(?:([AaPp])\.?[Mm]\.?)?"
    r"\s*(Z|[+-]\d{2}(?::?\d{2})?)?"
)
_PLAIN_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_PLAIN_TIME = re.compile(r"\d{2}:\d{2}:\d{2}")
_MONTHS = {
    m: i + 1
    for i, m in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
    )
}

_LABEL_TOKENS = (
    ("%d", "dd"),
    ("%m", "MM"),
    ("%Y", "yyyy"),
    ("%y", "yy"),
    ("%H", "HH"),
    ("%I", "h"),
    ("%M", "mm"),
    ("%S", "ss"),
    ("%b", "MMM"),
    ("%p", "a"),
)


def format_label(fmt: str | None) -> str:
    """A date format as people write it: ``%d/%m/%Y %H:%M`` -> ``dd/MM/yyyy HH:mm``."""
    if fmt is None or fmt == ISO_8601:
        return ISO_8601
    for token, label in _LABEL_TOKENS:
        fmt = fmt.replace(token, label)
    return fmt


def _split(value: str) -> tuple[str, str]:
    """A stripped date text as (date part, time part); the time part may be ``""``."""
    d, _, t = value.partition(" ")
    if not t and len(d) > 10 and d[10] in "Tt":
        return d[:10], d[11:]
    return d, t.strip()


def detect_date_format(values: Iterable[str]) -> DateGuess:
    """Which date format the values are written in, looking at every one of them.

    Known shapes: ISO 8601 (``2024-03-01T10:00:00Z``), ``yyyy-MM-dd HH:mm:ss``,
    ``dd-MM-yyyy HH:mm``, ``dd/MM/yyyy HH:mm(:ss)``, ``MM/dd/yyyy hh:mm a``, ``d/M/yyyy
    H:mm`` (no zero padding: the same strptime format as ``dd/MM/yyyy HH:mm``) and Jira's
    ``dd/MMM/yy h:mm a``. Day-first and month-first are told apart when a value has a first
    part (day-first) or second part (month-first) over 12; when no value does, both are
    candidates. Empty and ``?`` values are ignored. Values of no known shape are ignored
    when other values share a shape (reading the rows then names them); when no value has
    a known shape, ``candidates`` is empty and ``sample`` is one of them.
    """
    # Built-in maps throughout: a column of an event log has ~10^5 distinct times.
    uniq = set(map(str.strip, values)) - _NO_VALUE
    parts = set(map(str.partition, uniq, repeat(" ")))
    dates = set(map(itemgetter(0), parts))
    times = set(map(str.strip, map(itemgetter(2), parts))) - {""}
    iso = {d for d in dates if len(d) > 10 and d[10] in "Tt"}
    iso_t = bool(iso)
    if iso:
        dates = (dates - iso) | {d[:10] for d in iso}
        times |= {d[11:].strip() for d in iso} - {""}
    counts = {"ymd": 0, "num": 0, "mon": 0}
    odd: list[str] = []
    plain = True
    ymd_sep = num_sep = mon_sep = None
    max_a = max_b = 0
    mon_year4 = False
    for d in dates:
        m = _D_YMD.fullmatch(d)
        if m:
            counts["ymd"] += 1
            plain = plain and _PLAIN_DATE.fullmatch(d) is not None
            ymd_sep = min(ymd_sep or m.group(2), m.group(2))
            continue
        m = _D_NUM.fullmatch(d)
        if m:
            counts["num"] += 1
            max_a, max_b = max(max_a, int(m.group(1))), max(max_b, int(m.group(3)))
            num_sep = min(num_sep or m.group(2), m.group(2))
            continue
        m = _D_MON.fullmatch(d)
        if m and m.group(3).lower() in _MONTHS:
            counts["mon"] += 1
            mon_sep = min(mon_sep or m.group(2), m.group(2))
            mon_year4 = mon_year4 or len(m.group(4)) == 4
            continue
        odd.append(d)
    seconds = ampm = offset = False
    timed = False
    for t in times:
        m = _T.fullmatch(t)
        if m is None:
            odd.append(t)
            continue
        timed = True
        seconds = seconds or m.group(3) is not None
        ampm = ampm or m.group(5) is not None
        offset = offset or m.group(6) is not None or m.group(4) is not None
        plain = plain and _PLAIN_TIME.fullmatch(t) is not None
    kind = max(counts, key=lambda k: counts[k])
    if counts[kind] == 0:
        sample = min((v for v in uniq if _split(v)[0] in odd), default=None)
        return DateGuess(None, (), sample)

    def example(date_part: str | None = None) -> str:
        if date_part is None:
            return min(uniq)
        return min(filter(methodcaller("startswith", date_part), uniq))

    if ampm:
        t = " %I:%M:%S %p" if seconds else " %I:%M %p"
    elif timed:
        t = " %H:%M:%S" if seconds else " %H:%M"
    else:
        t = ""
    if kind == "ymd":
        s = ymd_sep or "-"
        if s == "-" and (iso_t or offset or not (plain and timed and seconds)):
            fmt = ISO_8601
        else:
            fmt = f"%Y{s}%m{s}%d{t}"
        return DateGuess(fmt, (fmt,), example())
    if kind == "mon":
        s = mon_sep or "/"
        fmt = f"%d{s}%b{s}{'%Y' if mon_year4 else '%y'}{t}"
        return DateGuess(fmt, (fmt,), example())
    s = num_sep or "/"
    candidates = []
    if max_a <= 31 and max_b <= 12:
        candidates.append(f"%d{s}%m{s}%Y{t}")
    if max_a <= 12 and max_b <= 31:
        candidates.append(f"%m{s}%d{s}%Y{t}")
    if len(candidates) == 1:
        # A value that decides: its first (day-first) or second (month-first) part is > 12.
        day_first = candidates[0].startswith("%d")
        decider = None
        for d in sorted(dates):
            m = _D_NUM.fullmatch(d)
            if m and int(m.group(1 if day_first else 3)) > 12:
                decider = d
                break
        return DateGuess(candidates[0], tuple(candidates), example(decider))
    return DateGuess(None, tuple(candidates), example())


def _day_ymd(d: str) -> dt.datetime:
    m = _D_YMD.fullmatch(d)
    if m is None:
        raise ValueError(d)
    return dt.datetime(int(m.group(1)), int(m.group(3)), int(m.group(4)))


def _day_dmy(d: str) -> dt.datetime:
    m = _D_NUM.fullmatch(d)
    if m is None:
        raise ValueError(d)
    return dt.datetime(int(m.group(4)), int(m.group(3)), int(m.group(1)))


def _day_mdy(d: str) -> dt.datetime:
    m = _D_NUM.fullmatch(d)
    if m is None:
        raise ValueError(d)
    return dt.datetime(int(m.group(4)), int(m.group(1)), int(m.group(3)))


def _day_mon(d: str) -> dt.datetime:
    m = _D_MON.fullmatch(d)
    month = _MONTHS.get(m.group(3).lower()) if m is not None else None
    if m is None or month is None:
        raise ValueError(d)
    year = int(m.group(4))
    if len(m.group(4)) == 2:
        year += 2000 if year < 70 else 1900
    return dt.datetime(year, month, int(m.group(1)))


def _time_of_day(t: str) -> tuple[dt.timedelta, dt.timedelta | None]:
    """``10:15``, ``10:15:30.250``, ``10:15 AM``, ``10:15:00+01:00``: (time, UTC offset)."""
    m = _T.fullmatch(t)
    if m is None:
        raise ValueError(t)
    hour, minute, second = int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)
    half = m.group(5)
    if half is not None:
        if not 1 <= hour <= 12:
            raise ValueError(t)
        hour = hour % 12 + (12 if half in "Pp" else 0)
    if hour > 23 or minute > 59 or second > 59:
        raise ValueError(t)
    frac = m.group(4)
    micro = int(frac.ljust(6, "0")) if frac else 0
    offset = None
    zone = m.group(6)
    if zone == "Z":
        offset = dt.timedelta(0)
    elif zone is not None:
        digits = zone[1:].replace(":", "")
        minutes = int(digits[:2]) * 60 + (int(digits[2:4]) if len(digits) > 2 else 0)
        if minutes >= 24 * 60:
            raise ValueError(t)
        offset = dt.timedelta(minutes=-minutes if zone[0] == "-" else minutes)
    return dt.timedelta(hours=hour, minutes=minute, seconds=second, microseconds=micro), offset


def _day_parser(fmt: str | None) -> Callable[[str], dt.datetime] | None:
    """The date-part parser of a known format; ``None`` for other strptime formats."""
    if fmt is None or fmt == ISO_8601 or re.fullmatch(r"%Y(.)%m\1%d.*", fmt):
        return _day_ymd
    m = re.fullmatch(r"%([dm])([/.-])%([dm])\2%Y.*", fmt)
    if m and m.group(1) != m.group(3):
        return _day_dmy if m.group(1) == "d" else _day_mdy
    if re.fullmatch(r"%d([/-])%b\1%[yY].*", fmt):
        return _day_mon
    return None


class DateReader:
    """Turns date texts of one format into UTC datetimes, fast for long columns.

    The known formats are read by date part and time part, each cached (an event log
    repeats its days and minutes); 1- or 2-digit day, month and hour, optional seconds and
    AM/PM are accepted whatever the format says. Any other strptime format is used as
    given. Texts without an offset are in ``zone``; the offset is looked up once per day
    and hour. Raises ``ValueError`` for a text that is not a date.
    """

    def __init__(self, fmt: str | None, zone: dt.tzinfo) -> None:
        self.fmt = fmt
        self.zone = zone
        self._day = _day_parser(fmt)
        self._is_utc = (
            zone is _UTC
            or zone.utcoffset(dt.datetime(2001, 1, 1)) == dt.timedelta(0)
            and zone.utcoffset(dt.datetime(2001, 7, 1)) == dt.timedelta(0)
        )
        self._days: dict[str, dt.datetime] = {}
        self._times: dict[str, tuple[dt.timedelta, dt.timedelta | None]] = {}
        self._offsets: dict[tuple[str, int], dt.timedelta] = {}

    def read_many(self, texts: Iterable[str]) -> tuple[dict[str, Any], list[str]]:
        """Read distinct raw texts at once: ({text: UTC datetime or None}, [texts not dates]).

        Empty and ``?`` texts give ``None``. The loop is written out for speed: a column of
        an event log has a hundred thousand distinct times.
        """
        out: dict[str, Any] = {}
        bad: list[str] = []
        if self._day is None:
            for raw in texts:
                value = raw.strip()
                if value in _NO_VALUE:
                    out[raw] = None
                    continue
                try:
                    out[raw] = self._strptime(value)
                except ValueError:
                    out[raw] = None
                    bad.append(raw)
            return out, bad
        days, times, offsets = self._days, self._times, self._offsets
        parse_day, zone, is_utc = self._day, self.zone, self._is_utc
        zero = dt.timedelta(0)
        for raw in texts:
            value = raw.strip()
            if value in _NO_VALUE:
                out[raw] = None
                continue
            d, _, t = value.partition(" ")
            if not t and len(d) > 10 and d[10] in "Tt":
                d, t = d[:10], d[11:]
            try:
                day = days.get(d)
                if day is None:
                    day = days[d] = parse_day(d)
                if t:
                    tm = times.get(t)
                    if tm is None:
                        tm = times[t] = _time_of_day(t.strip())
                    naive = day + tm[0]
                    if tm[1] is not None:
                        out[raw] = (naive - tm[1]).replace(tzinfo=_UTC)
                        continue
                else:
                    naive = day
                if is_utc:
                    out[raw] = naive.replace(tzinfo=_UTC)
                    continue
                key = (d, naive.hour)
                offset = offsets.get(key)
                if offset is None:
                    offset = offsets[key] = zone.utcoffset(naive) or zero
                out[raw] = (naive - offset).replace(tzinfo=_UTC)
            except (ValueError, OverflowError):
                out[raw] = None
                bad.append(raw)
        return out, bad

    def _strptime(self, value: str) -> dt.datetime:
        """A value of a format without a fast path, by strptime (ValueError if it is not)."""
        try:
            parsed = dt.datetime.strptime(value, self.fmt or "")
        except OverflowError:
            raise ValueError(value) from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=self.zone)
        return parsed.astimezone(_UTC)


def local_zone() -> dt.tzinfo:
    """The zone of this computer, for exports whose times carry no offset."""
    return dateutil_tz.tzlocal()


# --------------------------------------------------------------------------- values


class _Bad(ValueError):
    """A value that does not fit its field; the text completes the row error."""


_LEADING_INT = re.compile(r"(?:[Pp])?(\d+)(?:\s*-.*)?", re.S)


def _text(value: str) -> str | None:
    value = value.strip()
    return None if value in _NO_VALUE else value


def _make_level(low: int, high: int, words: dict[str, int], what: str) -> Callable[[str], Any]:
    def convert(raw: str) -> int | None:
        value = raw.strip()
        if value in _NO_VALUE:
            return None
        m = _LEADING_INT.fullmatch(value)
        if m:
            n = int(m.group(1)) if len(m.group(1)) < 6 else high + 1
        else:
            n = words.get(_norm(value))
            if n is None:
                accepted = ", ".join(f'"{w.title()}"' for w in words)
                raise _Bad(
                    f'is not {what} (a number {low}-{high} such as "{low} - ...", or {accepted})'
                )
        if not low <= n <= high:
            raise _Bad(f"is out of range for {what} ({low} to {high})")
        return n

    return convert


_BOOLS = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False}
_BOOLS.update({"t": True, "f": False, "y": True, "n": False})


def _bool(raw: str) -> bool | None:
    value = raw.strip()
    if value in _NO_VALUE:
        return None
    b = _BOOLS.get(value.lower())
    if b is None:
        raise _Bad("is not true or false")
    return b


def _count(raw: str) -> int | None:
    value = raw.strip()
    if value in _NO_VALUE:
        return None
    if not value.isascii() or not value.isdigit() or len(value) > 9:
        raise _Bad("is not a whole number of 0 or more")
    return int(value)


#: Servicedeck's own state and hold-reason names, understood from every source (a source's
#: vocabulary adds its words and codes on top).
_OWN_STATES: dict[str, tuple[IncidentState, HoldReason | None]] = {
    **{_norm(s.value): (s, None) for s in IncidentState},
    **{_norm(r.value): (IncidentState.ON_HOLD, r) for r in HoldReason},
}
_OWN_HOLD_REASONS: dict[str, HoldReason] = {_norm(r.value): r for r in HoldReason}


def _make_state(
    source_states: dict[str, tuple[IncidentState, HoldReason | None]],
) -> Callable[[str], Any]:
    states = {**_OWN_STATES, **source_states}
    accepted = ", ".join(dict.fromkeys(k.title() if not k.isdigit() else k for k in states))

    def convert(raw: str) -> tuple[IncidentState, HoldReason | None] | None:
        value = raw.strip()
        if value in _NO_VALUE:
            return None
        found = states.get(_norm(value))
        if found is None:
            raise _Bad(f"is not a known state (accepted: {accepted})")
        return found

    return convert


def _make_hold(source_reasons: dict[str, HoldReason], default: HoldReason | None) -> Callable:
    reasons = {**_OWN_HOLD_REASONS, **source_reasons}

    def convert(raw: str) -> HoldReason | None:
        value = raw.strip()
        if value in _NO_VALUE:
            return None
        found = reasons.get(_norm(value), default)
        if found is None:
            accepted = ", ".join(r.value for r in HoldReason)
            raise _Bad(f"is not an on-hold reason (accepted: {accepted})")
        return found

    return convert


def _converters(source: ImportSource) -> dict[str, Callable[[str], Any]]:
    if source is ImportSource.JSM:
        return {
            "state": _make_state(jsm.STATUSES),
            "hold_reason": _make_hold(jsm.HOLD_REASONS, HoldReason.AWAITING_CALLER),
            "impact": _make_level(1, 3, jsm.IMPACTS, "an impact"),
            "urgency": _make_level(1, 3, jsm.URGENCIES, "an urgency"),
            "priority": _make_level(1, 5, jsm.PRIORITIES, "a priority"),
        }
    return {
        "state": _make_state(servicenow.STATES),
        "hold_reason": _make_hold(servicenow.HOLD_REASONS, None),
        "impact": _make_level(1, 3, servicenow.LEVELS, "an impact"),
        "urgency": _make_level(1, 3, servicenow.LEVELS, "an urgency"),
        "priority": _make_level(1, 5, servicenow.PRIORITIES, "a priority"),
    }


# --------------------------------------------------------------------------- the plan


def _row_error(path: Path, row: int, header: str, value: str, problem: str) -> ImportFileError:
    shown = value if len(value) <= 80 else value[:77] + "..."
    return ImportFileError(
        f'{path.name}, row {row}, column "{header}": "{shown}" {problem}.',
        file=path,
        row=row,
        column=header,
        value=value,
    )


class _Errors:
    """Keeps the error of the earliest row (ties: the leftmost column)."""

    def __init__(self) -> None:
        self.best: tuple[int, int, ImportFileError] | None = None

    def add(self, pos: int, order: int, error: ImportFileError) -> None:
        if self.best is None or (pos, order) < self.best[:2]:
            self.best = (pos, order, error)

    def limit(self) -> int:
        return self.best[0] if self.best is not None else 1 << 62

    def raise_first(self) -> None:
        if self.best is not None:
            raise self.best[2]


@collector_paused()  # millions of short-lived acyclic objects: see app.services.memory
def read_plan(
    path: Path | str | Table,
    *,
    source: ImportSource | None = None,
    mapping: dict[str, str | None] | None = None,
    date_format: str | None = None,
    tz: dt.tzinfo | None = None,
    progress: Progress | None = None,
) -> ImportPlan:
    """Read and check a whole export; return what it says about each incident.

    ``path`` may also be a :class:`Table` already read (the wizard's), so the file is not
    read a second time.

    ``source`` defaults to :func:`detect_source`; ``mapping`` (field -> header) is laid over
    :func:`propose_mapping`, an explicit ``None`` unmapping a field. ``date_format`` is a
    strptime format or :data:`ISO_8601`; without it the format is detected over every date
    of the file and :class:`AmbiguousDateFormat` is raised when the file cannot tell
    day-first from month-first. ``tz`` is the zone the export's times are in (default: this
    computer's zone); times with an offset keep theirs; results are UTC.

    Every row is checked before returning; the first bad row raises
    :class:`ImportFileError` naming file, row, column and value. Fully empty rows are
    skipped and counted (``plan.empty_rows``); JSM rows of other issue types than incidents
    go to ``plan.skipped`` with a reason.

    Several rows with one number (event logs, audit exports) are sorted by ``updated_at``
    (ties: file order): the latest gives the incident, and each change of a tracked field
    (:data:`TRACKED_FIELDS`) between two successive rows becomes an :class:`ImportedEvent`
    at the later row's update time by its ``updated_by``. The rows must agree on
    ``opened_at``. An event log without a short description gets
    ``"<category> / <subcategory>"`` (whichever are present), else the number.

    ``progress`` hears of the rows checked; cancelling it raises
    :class:`app.services.progress.Cancelled`.
    """
    table = path if isinstance(path, Table) else None
    path = table.path if table is not None else Path(path)
    name = path.name

    report = progress or silent()
    label = f"Checking {name}"

    def check_cancel() -> None:
        report.check()

    check_cancel()
    if table is None:
        table = _read_table(path, lambda: report.cancelled)
    total = len(table.rows)
    report.update(0, total, label)
    if source is None:
        source = detect_source(table.headers)
        if source is None:
            raise ImportFileError(
                f"{name}: does not look like a ServiceNow or Jira Service Management export "
                '(no "number" or "Issue key" column); choose the source and map the columns.',
                file=path,
            )
    source = ImportSource(source)
    full_map = _resolve_mapping(path, source, table.headers, mapping)
    col_index: dict[str, int] = {}
    for i, h in enumerate(table.headers):
        col_index.setdefault(h, i)
    mapped = {f: col_index[h] for f, h in full_map.items() if h is not None}

    # Which rows: not empty, and (JSM) of an incident type.
    skipped: list[tuple[int, str]] = []
    keep: list[int] = []
    empty_rows = 0
    type_col = mapped.get("issue_type") if source is ImportSource.JSM else None
    num_col = mapped["number"]
    for i, row in enumerate(table.rows):
        # Only a row without a number can be empty; the join is paid for those alone.
        if not row[num_col].strip() and not "".join(row).strip():
            empty_rows += 1
            continue
        if type_col is not None:
            kind = row[type_col].strip()
            if kind.casefold() not in jsm.INCIDENT_TYPES:
                skipped.append((i + 2, f"Issue Type '{kind}' is not an incident"))
                continue
        keep.append(i)
    rows = table.rows if len(keep) == total else [table.rows[i] for i in keep]
    row_no = [i + 2 for i in keep]
    n = len(rows)
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in table.headers]
    distinct: dict[int, set[str]] = {}

    def distinct_of(c: int) -> set[str]:
        found = distinct.get(c)
        if found is None:
            found = distinct[c] = set(columns[c])
        return found

    check_cancel()

    # Dates: one format for every date column.
    date_fields = [s.name for s in _FIELDS if s.kind == "datetime" and s.name in mapped]
    if date_format is None:
        values: set[str] = set()
        for f in date_fields:
            values.update(distinct_of(mapped[f]))
        guess = detect_date_format(values)
        if guess.ambiguous:
            labels = " or ".join(format_label(c) for c in guess.candidates)
            raise AmbiguousDateFormat(
                f'{name}: the dates could be {labels} (for example "{guess.sample}"); '
                "choose the date format.",
                guess.candidates,
                file=path,
                sample=guess.sample,
            )
        date_format = guess.format or ISO_8601
    zone = tz if tz is not None else local_zone()
    date_label = format_label(date_format)
    read_date = DateReader(None if date_format == ISO_8601 else date_format, zone)

    # Convert column by column, once per distinct text.
    special = _converters(source)
    kinds = {s.name: s.kind for s in _FIELDS}
    errors = _Errors()
    conv: dict[str, list[Any]] = {}
    for order, (field_name, c) in enumerate(sorted(mapped.items(), key=lambda kv: kv[1])):
        if field_name == "issue_type":
            continue
        kind = kinds[field_name]
        col = columns[c]
        cache: dict[str, Any] = {}
        bad: dict[str, str] = {}
        if kind == "datetime":
            cache, not_dates = read_date.read_many(distinct_of(c))
            bad = dict.fromkeys(not_dates, f"is not a date ({date_label})")
        else:
            fn = {"bool": _bool, "count": _count}.get(kind) or special.get(kind) or _text
            for raw in distinct_of(c):
                try:
                    cache[raw] = fn(raw)
                except _Bad as exc:
                    bad[raw] = str(exc)
                    cache[raw] = None
        if bad:
            pos = next(p for p, v in enumerate(col) if v in bad)
            raw = col[pos]
            header = table.headers[c]
            errors.add(pos, order, _row_error(path, row_no[pos], header, raw.strip(), bad[raw]))
        conv[field_name] = list(map(cache.__getitem__, col))
        check_cancel()
    report.update(total // 3, total, label)

    none_col = [None] * n
    get = lambda f: conv.get(f, none_col)  # noqa: E731
    header_of = lambda f: full_map.get(f) or f  # noqa: E731

    # Required values.
    required = ["number", "opened_at", "state"]
    if source is not ImportSource.SERVICENOW_EVENTS:
        required.append("short_description")
    for order, f in enumerate(required):
        col = get(f)
        if f in conv and None in col:
            pos = col.index(None)
            if pos < errors.limit():
                raw = rows[pos][mapped[f]].strip()
                label = next(s.label for s in _FIELDS if s.name == f)
                if not raw or raw == "?":
                    err = ImportFileError(
                        f'{name}, row {row_no[pos]}, column "{header_of(f)}": no value, but '
                        f"{label} is required.",
                        file=path,
                        row=row_no[pos],
                        column=header_of(f),
                        value=raw,
                    )
                    errors.add(pos, -10 + order, err)
    numbers = get("number")
    for pos, number in enumerate(numbers):
        if number is not None and len(number) > MAX_NUMBER:
            problem = f"is longer than {MAX_NUMBER} characters, too long for a number"
            errors.add(
                pos, -20, _row_error(path, row_no[pos], header_of("number"), number, problem)
            )
            break
    opened = get("opened_at")
    if "resolved_at" in conv:
        for pos, (o, r) in enumerate(zip(opened, conv["resolved_at"], strict=True)):
            if o is not None and r is not None and r < o:
                raw = rows[pos][mapped["resolved_at"]].strip()
                problem = (
                    f"is before the incident was opened ({rows[pos][mapped['opened_at']].strip()})"
                )
                errors.add(
                    pos, 1000, _row_error(path, row_no[pos], header_of("resolved_at"), raw, problem)
                )
                break
    errors.raise_first()
    check_cancel()

    # Group the rows of each number (file order of first appearance).
    groups: dict[str, list[int]] = {}
    for pos, number in enumerate(numbers):
        g = groups.get(number)
        if g is None:
            groups[number] = [pos]
        else:
            g.append(pos)
    updated = get("updated_at")
    for g in groups.values():
        if len(g) > 1:
            first_open = opened[g[0]]
            for pos in g[1:]:
                if opened[pos] != first_open and pos < errors.limit():
                    raw = rows[pos][mapped["opened_at"]].strip()
                    earlier = rows[g[0]][mapped["opened_at"]].strip()
                    problem = (
                        f"differs from the opened time of row {row_no[g[0]]} ({earlier}) of "
                        f"the same incident {numbers[pos]}"
                    )
                    errors.add(
                        pos, 0, _row_error(path, row_no[pos], header_of("opened_at"), raw, problem)
                    )
                    break
    errors.raise_first()
    report.update(total * 2 // 3, total, label)

    # The state of each row, with the hold reason only when on hold.
    default_hold = HoldReason.AWAITING_CALLER if source is ImportSource.JSM else None
    pairs = list(zip(get("state"), get("hold_reason"), strict=True))
    settle: dict[tuple[Any, Any], tuple[str, str | None]] = {}
    for pair in set(pairs):
        (state, implied), explicit = pair
        reason = None
        if state is IncidentState.ON_HOLD:
            reason = explicit or implied or default_hold
        settle[pair] = (state.value, reason.value if reason is not None else None)
    settled = list(map(settle.__getitem__, pairs))
    states: list[str] = [p[0] for p in settled]
    holds: list[str | None] = [p[1] for p in settled]
    conv["state"] = states
    conv["hold_reason"] = holds

    tracked = [f for f in TRACKED_FIELDS if f in conv]
    tracked_cols = []
    for f in tracked:  # as text, converted once per distinct value
        col = conv[f]
        as_text = {v: _as_text(v) for v in set(col)}
        tracked_cols.append(list(map(as_text.__getitem__, col)))
    span = range(len(tracked))
    signature = list(zip(*tracked_cols, strict=True)) if tracked_cols else [()] * n
    authors = get("updated_by")
    fallback = source is ImportSource.SERVICENOW_EVENTS
    incident_fields = [
        f.name
        for f in fields(ImportedIncident)
        if f.name not in ("number", "row", "short_description", "history", "state", "hold_reason")
    ]
    present = [(f, conv[f]) for f in incident_fields if f in conv]
    short = get("short_description")
    category, subcategory = get("category"), get("subcategory")

    incidents: list[ImportedIncident] = []
    for done, (number, g) in enumerate(groups.items()):
        if done % PROGRESS_EVERY == 0 and done:
            check_cancel()
            report.update(min(total, total * 2 // 3 + len(incidents)), total, label)
        history: list[ImportedEvent] = []
        if len(g) > 1:
            g = sorted(g, key=lambda p: updated[p] or _MIN_UTC)
            for a, b in zip(g, g[1:], strict=False):
                at = updated[b]
                old, new = signature[a], signature[b]
                if at is None or old == new:
                    continue
                changes = tuple(
                    [(tracked[k], old[k], new[k]) for k in compress(span, map(ne, old, new))]
                )
                history.append(ImportedEvent(at, row_no[b], authors[b], changes))
        last = g[-1]
        desc = short[last]
        if desc is None and fallback:
            parts = [p for p in (category[last], subcategory[last]) if p]
            desc = " / ".join(parts) if parts else number
        values = {f: col[last] for f, col in present}
        description = values.get("description")
        if desc is not None and len(desc) > MAX_SHORT_DESCRIPTION:
            if description is None:
                values["description"] = desc
            desc = desc[: MAX_SHORT_DESCRIPTION - 1] + "\u2026"
        incidents.append(
            ImportedIncident(
                number=number,
                row=row_no[last],
                short_description=desc,
                state=states[last],
                hold_reason=holds[last],
                history=tuple(history),
                **values,
            )
        )
    check_cancel()
    report.update(total, total, label)
    return ImportPlan(
        path=path,
        source=source,
        mapping=full_map,
        date_format=None if date_format == ISO_8601 else date_format,
        rows_read=total,
        incidents=incidents,
        skipped=skipped,
        empty_rows=empty_rows,
    )


_MIN_UTC = dt.datetime.min.replace(tzinfo=_UTC)


def _as_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# --------------------------------------------------------------------------- preview


def preview_rows(
    plan: ImportPlan, limit: int = 20, *, tz: dt.tzinfo | None = None
) -> list[dict[str, str]]:
    """The first ``limit`` incidents as they will be stored: field -> display text.

    Times are shown as ``yyyy-MM-dd HH:mm`` in ``tz`` (default UTC, as stored); empty
    fields are ``""``; ``history`` is the number of changes read from earlier rows.
    """
    zone = tz or _UTC
    out = []
    for incident in plan.incidents[: max(0, limit)]:
        shown: dict[str, str] = {}
        for f in fields(ImportedIncident):
            value = getattr(incident, f.name)
            if f.name == "history":
                shown["history"] = str(len(value))
            elif value is None:
                shown[f.name] = ""
            elif isinstance(value, dt.datetime):
                shown[f.name] = value.astimezone(zone).strftime("%Y-%m-%d %H:%M")
            elif isinstance(value, bool):
                shown[f.name] = "yes" if value else "no"
            else:
                shown[f.name] = str(value)
        out.append(shown)
    return out


# --------------------------------------------------------------------------- mapping files


@dataclass(frozen=True)
class MappingFile:
    """A saved mapping, reused for the next export of the same shape."""

    source: ImportSource
    mapping: dict[str, str | None]
    date_format: str | None


_MAPPING_KIND = "servicedeck-import-mapping"


def save_mapping(
    path: Path | str,
    source: ImportSource,
    mapping: dict[str, str | None],
    date_format: str | None,
) -> None:
    """Write a mapping as JSON (to a temporary name, then renamed into place)."""
    path = Path(path)
    source = ImportSource(source)
    payload = {
        "kind": _MAPPING_KIND,
        "version": 1,
        "source": source.value,
        "mapping": {str(k): (None if v is None else str(v)) for k, v in mapping.items()},
        "date_format": date_format,
    }
    with atomic_output(path) as temporary:
        temporary.write_text(
            json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )


def load_mapping(path: Path | str) -> MappingFile:
    """Read a mapping saved by :func:`save_mapping`; :class:`ImportFileError` if it is not one."""
    path = Path(path)
    name = path.name

    def bad(why: str) -> ImportFileError:
        return ImportFileError(f"{name}: is not a Servicedeck import mapping ({why}).", file=path)

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ImportFileError(f"{name}: the file does not exist ({path}).", file=path) from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise bad(f"not readable JSON: {exc}") from None
    if not isinstance(data, dict) or data.get("kind") != _MAPPING_KIND:
        raise bad(f'no "kind": "{_MAPPING_KIND}"')
    try:
        source = ImportSource(data.get("source"))
    except ValueError:
        raise bad(f"unknown source {data.get('source')!r}") from None
    raw = data.get("mapping")
    if not isinstance(raw, dict):
        raise bad('"mapping" is not an object')
    known = {s.name for s in fields_for(source)}
    mapping: dict[str, str | None] = {}
    for k, v in raw.items():
        if k not in known:
            raise bad(f'"{k}" is not a field of a {source.label} import')
        if v is not None and not isinstance(v, str):
            raise bad(f'the column for "{k}" is not text')
        mapping[k] = v
    date_format = data.get("date_format")
    if date_format is not None and not isinstance(date_format, str):
        raise bad('"date_format" is not text')
    return MappingFile(source, mapping, date_format)
