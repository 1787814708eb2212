"""The executive KPI report: an Excel workbook for a month or an ISO week.

``write_executive_report`` takes already loaded ``KpiColumns`` (a GUI job keeps one) or
loads them, and a session for names and targets. The workbook has a "Summary" sheet (the
headline KPIs against their targets and the previous period, the filters, the rows
skipped as bad data) and one sheet per KPI: the trend over the last 12 periods ending with
the report period (the daily series of the period itself for backlog and arrivals) and a
native chart beside the table. It is written to a temporary file renamed into place, so a
failure or a cancel leaves no partial file.

"Previous" on the summary is the previous calendar month (or ISO week), the period before
in the trend, not ``compute_kpis``'s previous period of equal length.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from openpyxl import Workbook
from openpyxl.chart import AreaChart, BarChart, LineChart, Reference
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Service, Team, Vendor
from app.services.io.excel import fit_to_width, put, safe_text, save_workbook
from app.services.kpi import AGING_BUCKETS, KpiColumns, KpiFilter, PeriodKpis, compute_kpis
from app.services.kpi_targets import KpiTarget, load_targets, meets
from app.services.progress import Progress, silent

UTC = dt.UTC
TREND_PERIODS = 12
SHEETS = (
    "Summary",
    "MTTA",
    "MTTR",
    "SLA attainment",
    "Backlog",
    "Arrivals vs resolutions",
    "Reopen rate",
    "FCR",
    "Availability",
    "Change success",
    "Emergency ratio",
    "CSAT & NPS",
)
PERCENT = "0.0%"
HOURS = "0.00"
COUNT = "#,##0"
SCORE = "0.0"
_CHANGE_FORMATS = {
    PERCENT: "+0.0%;-0.0%;0.0%",
    HOURS: "+0.00;-0.00;0.00",
    COUNT: "+#,##0;-#,##0;0",
    SCORE: "+0.0;-0.0;0.0",
}
MET = "✔ met"
MISSED = "✖ missed"
MET_FILL = PatternFill("solid", fgColor="C6EFCE")  # light green: light grey in grey-scale
MISSED_FILL = PatternFill("solid", fgColor="F4B084")  # orange: darker grey in grey-scale
HEADER_FILL = PatternFill("solid", fgColor="D9D9D9")
BOLD = Font(bold=True)
TITLE = Font(bold=True, size=14)
NOTE = Font(italic=True, color="7F7F7F")
SKIPPED_MEANING = {
    "mtta": "incidents whose first response is before they were opened (left out of MTTA)",
    "mttr": "resolved incidents without an opened time or resolved before opened",
    "mttr_business": "as MTTR, plus incidents outside the business calendar's range",
    "backlog": "incidents without an opened time or ending before they opened",
}
_UTC_EPOCH_DATE = dt.date(1970, 1, 1)


# --- periods -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReportPeriod:
    """A calendar month or an ISO week (Monday to Sunday), whole UTC days."""

    kind: Literal["month", "week"]
    start: dt.date
    end: dt.date  # the last day, included

    @property
    def label(self) -> str:
        if self.kind == "month":
            return f"{self.start:%Y-%m}"
        year, week, _ = self.start.isocalendar()
        return f"{year}-W{week:02d}"

    @property
    def title(self) -> str:
        if self.kind == "month":
            return f"{self.start:%B %Y}"
        return f"week {self.label} ({self.start:%d %b} - {self.end:%d %b %Y})"

    def shifted(self, count: int) -> ReportPeriod:
        """The period ``count`` months or weeks later (earlier when negative)."""
        if self.kind == "week":
            start = self.start + dt.timedelta(weeks=count)
            return ReportPeriod("week", start, start + dt.timedelta(days=6))
        index = self.start.year * 12 + self.start.month - 1 + count
        return month(index // 12, index % 12 + 1)

    def kpi_filter(self, filters: ReportFilters) -> KpiFilter:
        return KpiFilter(
            self.start,
            self.end,
            filters.service_ids,
            filters.group_ids,
            filters.vendor_ids,
            filters.priorities,
        )


def month(year: int, number: int) -> ReportPeriod:
    start = dt.date(year, number, 1)
    following = dt.date(year + number // 12, number % 12 + 1, 1)
    return ReportPeriod("month", start, following - dt.timedelta(days=1))


_PERIOD = re.compile(r"^(\d{4})-(?:(\d{2})|[Ww](\d{2}))$")


def parse_period(text: str) -> ReportPeriod:
    """``YYYY-MM`` (a month) or ``YYYY-Www`` (an ISO week); ValueError otherwise."""
    match = _PERIOD.match(text.strip())
    message = f"period must be YYYY-MM (month) or YYYY-Www (ISO week), not {text!r}"
    if not match:
        raise ValueError(message)
    year = int(match[1])
    try:
        if match[2] is not None:
            return month(year, int(match[2]))
        start = dt.date.fromisocalendar(year, int(match[3]), 1)
    except ValueError:
        raise ValueError(message) from None
    return ReportPeriod("week", start, start + dt.timedelta(days=6))


# --- filters -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReportFilters:
    """Service, group, vendor and priority filters (None = all)."""

    service_ids: tuple[int, ...] | None = None
    group_ids: tuple[int, ...] | None = None
    vendor_ids: tuple[int, ...] | None = None
    priorities: tuple[int, ...] | None = None

    def describe(self, session: Session) -> str:
        """The filters in words, e.g. ``service: Email; priority: P1, P2`` (or ``none``)."""
        parts = []
        for label, model, ids in (
            ("service", Service, self.service_ids),
            ("group", Team, self.group_ids),
            ("vendor", Vendor, self.vendor_ids),
        ):
            if ids is not None:
                names = dict(
                    session.execute(select(model.id, model.name).where(model.id.in_(ids))).all()
                )
                parts.append(f"{label}: " + ", ".join(names.get(i, f"#{i}") for i in ids))
        if self.priorities is not None:
            parts.append("priority: " + ", ".join(f"P{p}" for p in self.priorities))
        return "; ".join(parts) or "none (everything)"


def parse_priority(text: str) -> int:
    """``1``..``5`` or ``P1``..``P5`` as an int; ValueError otherwise."""
    value = text.strip().upper().removeprefix("P")
    if value in {"1", "2", "3", "4", "5"}:
        return int(value)
    raise ValueError(f"unknown priority {text!r} (use 1-5 or P1-P5)")


def _resolve(session: Session, model: Any, label: str, names: Sequence[str]) -> tuple[int, ...]:
    rows = session.execute(select(model.id, model.name)).all()
    exact = {name: i for i, name in rows}
    folded: dict[str, list[int]] = {}
    for i, name in rows:
        folded.setdefault(name.casefold(), []).append(i)
    ids: list[int] = []
    for name in names:
        found = exact.get(name)
        if found is None:
            matches = folded.get(name.strip().casefold(), [])
            if len(matches) != 1:
                raise ValueError(f"unknown {label} {name!r}")
            found = matches[0]
        if found not in ids:
            ids.append(found)
    return tuple(ids)


def resolve_filters(
    session: Session,
    services: Sequence[str] = (),
    groups: Sequence[str] = (),
    vendors: Sequence[str] = (),
    priorities: Sequence[str] = (),
) -> ReportFilters:
    """Names (exact, else case-insensitive) to ids; ValueError ``unknown group 'X'``."""
    return ReportFilters(
        _resolve(session, Service, "service", services) if services else None,
        _resolve(session, Team, "group", groups) if groups else None,
        _resolve(session, Vendor, "vendor", vendors) if vendors else None,
        tuple(sorted({parse_priority(p) for p in priorities})) if priorities else None,
    )


def utc_now() -> dt.datetime:
    """The current instant (a seam for tests)."""
    return dt.datetime.now(UTC)


# --- headline KPIs -------------------------------------------------------------------------


@dataclass(frozen=True)
class Headline:
    """One summary row: how to read the value of a period, its unit and its target key."""

    label: str
    unit: str
    number_format: str
    value: Callable[[PeriodKpis], float | None]
    target_key: str | None = None
    basis: Callable[[PeriodKpis], str] = lambda _p: ""


def _h(seconds: float | None) -> float | None:
    return None if seconds is None else seconds / 3600.0


def mean_availability(p: PeriodKpis) -> float | None:
    """The mean availability % of the services in the period (None without services)."""
    values = [a.availability_percent for a in p.availability if a.availability_percent is not None]
    return sum(values) / len(values) if values else None


HEADLINES: tuple[Headline, ...] = (
    Headline("MTTA", "hours", HOURS, lambda p: _h(p.mtta.mean), "mtta",
             lambda p: f"{p.mtta.count:,} incidents responded"),
    Headline("MTTR (mean)", "hours", HOURS, lambda p: _h(p.mttr.mean), "mttr",
             lambda p: f"{p.mttr.count:,} incidents resolved"),
    Headline("MTTR (median)", "hours", HOURS, lambda p: _h(p.mttr.median)),
    Headline("MTTR (90th percentile)", "hours", HOURS, lambda p: _h(p.mttr.p90)),
    Headline("MTTR business hours (mean)", "hours", HOURS, lambda p: _h(p.mttr_business.mean),
             "mttr_business", lambda p: f"{p.mttr_business.count:,} incidents resolved"),
    Headline("SLA attainment", "%", PERCENT, lambda p: p.sla_attainment.percent,
             "sla_attainment",
             lambda p: f"{p.sla_attainment.numerator:,} of {p.sla_attainment.denominator:,}"),
    Headline("SLA attainment (response)", "%", PERCENT, lambda p: p.sla_response.percent),
    Headline("SLA attainment (resolution)", "%", PERCENT, lambda p: p.sla_resolution.percent),
    Headline("Backlog at period end", "incidents", COUNT,
             lambda p: p.daily.backlog[-1] if p.daily.backlog else None),
    Headline("Arrivals", "incidents", COUNT, lambda p: sum(p.daily.arrivals)),
    Headline("Resolutions", "incidents", COUNT, lambda p: sum(p.daily.resolutions)),
    Headline("Reopen rate", "%", PERCENT, lambda p: p.reopen_rate.percent, "reopen_rate",
             lambda p: f"{p.reopen_rate.numerator:,} of {p.reopen_rate.denominator:,}"),
    Headline("First contact resolution", "%", PERCENT, lambda p: p.fcr.percent, "fcr",
             lambda p: f"{p.fcr.numerator:,} of {p.fcr.denominator:,}"),
    Headline("Availability (mean of services)", "%", PERCENT, mean_availability,
             "availability", lambda p: f"{len(p.availability)} services"),
    Headline("Change success rate", "%", PERCENT, lambda p: p.change_success.percent,
             "change_success",
             lambda p: f"{p.change_success.numerator:,} of {p.change_success.denominator:,}"),
    Headline("Emergency change ratio", "%", PERCENT, lambda p: p.emergency_ratio.percent,
             "emergency_ratio",
             lambda p: f"{p.emergency_ratio.numerator:,} of {p.emergency_ratio.denominator:,}"),
    Headline("CSAT", "%", PERCENT, lambda p: p.csat.percent, "csat",
             lambda p: f"{p.csat.denominator:,} responses"),
    Headline("NPS", "score", SCORE, lambda p: p.nps, "nps",
             lambda p: f"{p.nps_responses:,} responses"),
)  # fmt: skip


def _cell_value(value: float | None, number_format: str) -> float | None:
    """Percentages are kept as fractions in the workbook (shown by the ``0.0%`` format)."""
    if value is None:
        return None
    return value / 100.0 if number_format == PERCENT else value


# --- the report ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SummaryRow:
    """A headline KPI as the summary sheet shows it (percent values as 0-100)."""

    label: str
    unit: str
    value: float | None
    target: float | None
    met: bool | None
    previous: float | None


@dataclass
class ReportSummary:
    """What was written, with the headline values and the timings."""

    path: Path
    period: str
    sheets: list[str]
    rows: list[SummaryRow]
    skipped: dict[str, int]
    load_seconds: float = 0.0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (
            f"KPI report for {self.period} written to {self.path} "
            f"({len(self.sheets)} sheets, {self.seconds:.1f} s)"
        )


@dataclass
class _Context:
    period: ReportPeriod
    periods: list[ReportPeriod]
    trend: list[PeriodKpis]
    targets: dict[str, KpiTarget]
    names: dict[int, str]
    service_targets: dict[int, float]
    subtitle: str

    @property
    def current(self) -> PeriodKpis:
        return self.trend[-1]


def write_executive_report(
    cols: KpiColumns | None,
    session: Session,
    period: ReportPeriod | str,
    out_path: str | Path,
    filters: ReportFilters | None = None,
    now: dt.datetime | None = None,
    progress: Progress | None = None,
) -> ReportSummary:
    """Write the executive report of ``period`` to ``out_path`` (an .xlsx file).

    ``cols`` are loaded from ``session`` when None. ``session`` gives the names of
    services, groups and vendors and the targets. Raises ValueError for a bad period,
    ``Cancelled`` when ``progress`` is cancelled (no file is written then), OSError when
    the file cannot be written.
    """
    began = time.perf_counter()
    progress = progress or silent()
    filters = filters or ReportFilters()
    if isinstance(period, str):
        period = parse_period(period)
    now = now or utc_now()
    total = 2 + TREND_PERIODS + len(SHEETS)
    step = 0

    def advance(label: str) -> None:
        nonlocal step
        progress.update(step, total, label)
        step += 1

    load_seconds = 0.0
    if cols is None:
        advance("Loading KPI data")
        t0 = time.perf_counter()
        cols = KpiColumns.load(session)
        load_seconds = time.perf_counter() - t0
    else:
        step += 1
    periods = [period.shifted(k) for k in range(1 - TREND_PERIODS, 1)]
    trend = []
    for p in periods:
        advance(f"Computing {p.label}")
        trend.append(compute_kpis(cols, p.kpi_filter(filters), now=now).current)
    services = session.execute(select(Service.id, Service.name, Service.availability_target))
    names, service_targets = {}, {}
    for sid, name, target in services:
        names[sid] = name
        service_targets[sid] = target
    ctx = _Context(
        period,
        periods,
        trend,
        load_targets(session),
        names,
        service_targets,
        f"{period.title}  |  filters: {filters.describe(session)}",
    )
    wb = Workbook()
    wb.remove(wb.active)
    rows: list[SummaryRow] = []
    for title in SHEETS:
        advance(f"Writing {title}")
        ws = wb.create_sheet(title)
        if title == "Summary":
            rows = _summary(ws, ctx, now)
        else:
            _SHEET_WRITERS[title](ws, ctx)
        fit_to_width(ws)
    advance("Saving")
    progress.check()
    save_workbook(wb, out_path)
    progress.update(total, total, "Done")
    return ReportSummary(
        Path(out_path),
        period.label,
        list(SHEETS),
        rows,
        dict(ctx.current.skipped),
        load_seconds,
        time.perf_counter() - began,
    )


# --- sheet helpers -------------------------------------------------------------------------


def _head(ws: Any, title: str, ctx: _Context, note: str | None = None) -> None:
    ws["A1"].font = TITLE
    safe_text(ws["A1"], title)
    safe_text(ws["A2"], ctx.subtitle)
    if note:
        safe_text(ws["A3"], note).font = NOTE


def _table(
    ws: Any,
    row: int,
    headers: Sequence[str],
    rows: Iterable[Sequence[Any]],
    formats: Sequence[str | None],
    widths: Sequence[float] | None = None,
    col: int = 1,
) -> int:
    """A bold header at ``row`` and the rows below; returns the last row written."""
    for j, header in enumerate(headers):
        cell = ws.cell(row, col + j)
        safe_text(cell, header)
        cell.font = BOLD
        cell.fill = HEADER_FILL
        cell.alignment = Alignment(wrap_text=True, vertical="center")
    last = row
    for last, values in enumerate(rows, start=row + 1):  # noqa: B007 - the last row is wanted
        for j, value in enumerate(values):
            cell = put(ws.cell(last, col + j), value)
            if formats[j] and isinstance(value, int | float):
                cell.number_format = formats[j]
    for j, width in enumerate(widths or [max(12, len(h) + 2) for h in headers]):
        letter = get_column_letter(col + j)
        ws.column_dimensions[letter].width = max(ws.column_dimensions[letter].width or 0, width)
    return last


def _chart(
    ws: Any,
    kind: str,
    title: str,
    x_title: str,
    y_title: str,
    header_row: int,
    last_row: int,
    category_col: int,
    value_cols: Sequence[int],
    anchor: str,
    y_format: str | None = None,
    stacked: bool = False,
) -> None:
    """A native chart of ``value_cols`` against ``category_col`` (nothing without rows)."""
    if last_row <= header_row:
        return
    chart: Any = {"line": LineChart, "bar": BarChart, "area": AreaChart}[kind]()
    chart.title = title
    chart.x_axis.title = x_title
    chart.y_axis.title = y_title
    chart.x_axis.delete = False
    chart.y_axis.delete = False
    chart.width, chart.height = 20, 10
    if stacked:
        chart.grouping = "stacked"
        if kind == "bar":
            chart.overlap = 100
    if y_format:
        chart.y_axis.numFmt = y_format
        chart.y_axis.number_format = y_format
    for c in value_cols:
        chart.add_data(
            Reference(ws, min_col=c, min_row=header_row, max_row=last_row), titles_from_data=True
        )
    chart.set_categories(
        Reference(ws, min_col=category_col, min_row=header_row + 1, max_row=last_row)
    )
    ws.add_chart(chart, anchor)


def _anchor(columns: int, row: int = 5) -> str:
    return f"{get_column_letter(columns + 2)}{row}"


def _no_data(ctx: _Context, empty: bool, what: str) -> str | None:
    return f"No data for {ctx.period.label}: {what}." if empty else None


def _trend_sheet(
    ws: Any,
    ctx: _Context,
    title: str,
    headers: Sequence[str],
    values: Callable[[PeriodKpis], Sequence[Any]],
    formats: Sequence[str | None],
    charted: Sequence[int],
    y_title: str,
    empty: Callable[[PeriodKpis], bool],
    what: str,
    kind: str = "line",
    y_format: str | None = None,
) -> int:
    """Period | start | values...: one row per trend period, charted beside the table."""
    _head(ws, title, ctx, _no_data(ctx, empty(ctx.current), what))
    rows = [[p.label, p.start, *values(k)] for p, k in zip(ctx.periods, ctx.trend, strict=True)]
    last = _table(ws, 5, ["Period", "Start", *headers], rows, [None, None, *formats])
    ws.freeze_panes = "B6"
    _chart(
        ws, kind, f"{title}, last {TREND_PERIODS} {ctx.period.kind}s",
        ctx.period.kind.capitalize(), y_title, 5, last, 1, [c + 3 for c in charted],
        _anchor(len(headers) + 2), y_format,
    )  # fmt: skip
    return last


def _pct(value: float | None) -> float | None:
    return None if value is None else value / 100.0


def _target(ctx: _Context, key: str) -> float | None:
    t = ctx.targets[key]
    return _cell_value(t.target, PERCENT if t.unit == "%" else HOURS)


# --- the sheets ----------------------------------------------------------------------------


def _summary(ws: Any, ctx: _Context, now: dt.datetime) -> list[SummaryRow]:
    ws["A1"].font = TITLE
    safe_text(ws["A1"], "Service management KPIs: executive report")
    meta = (
        ("Period", f"{ctx.period.title} ({ctx.period.start:%Y-%m-%d} to {ctx.period.end:%Y-%m-%d})"),
        ("Filters", ctx.subtitle.split("filters: ", 1)[1]),
        ("Generated", f"{now.astimezone(UTC):%Y-%m-%d %H:%M} UTC"),
        ("Previous", f"{ctx.periods[-2].label} (the {ctx.period.kind} before)"),
    )  # fmt: skip
    for i, (key, value) in enumerate(meta, start=2):
        safe_text(ws.cell(i, 1), key).font = BOLD
        safe_text(ws.cell(i, 2), value)
    header_row = 7
    headers = ["KPI", "Value", "Unit", "Target", "Status", "Previous", "Change", "Basis"]
    current, previous = ctx.trend[-1], ctx.trend[-2]
    table: list[list[Any]] = []
    formats: list[list[str | None]] = []
    out: list[SummaryRow] = []
    for h in HEADLINES:
        value, before = h.value(current), h.value(previous)
        target = ctx.targets[h.target_key] if h.target_key else None
        met = meets(target, value) if target else None
        status = "no data" if value is None else (
            "no target" if met is None else MET if met else MISSED
        )  # fmt: skip
        change = None if value is None or before is None else value - before
        table.append([
            h.label, _cell_value(value, h.number_format), h.unit,
            _cell_value(target.target if target else None, h.number_format), status,
            _cell_value(before, h.number_format), _cell_value(change, h.number_format),
            h.basis(current),
        ])  # fmt: skip
        formats.append([None, h.number_format, None, h.number_format, None, h.number_format,
                        _CHANGE_FORMATS[h.number_format], None])  # fmt: skip
        out.append(SummaryRow(h.label, h.unit, value, target.target if target else None, met,
                              before))  # fmt: skip
    last = _table(ws, header_row, headers, [], [None] * 8, [34, 12, 10, 12, 12, 12, 12, 26])
    for i, (values, fmts) in enumerate(zip(table, formats, strict=True), start=header_row + 1):
        for j, (value, fmt) in enumerate(zip(values, fmts, strict=True), start=1):
            cell = put(ws.cell(i, j), value)
            if fmt and value is not None:
                cell.number_format = fmt
        status_cell = ws.cell(i, 5)
        if values[4] == MET:
            status_cell.fill = MET_FILL
        elif values[4] == MISSED:
            status_cell.fill = MISSED_FILL
            status_cell.font = BOLD
        last = i
    ws.freeze_panes = ws.cell(header_row + 1, 2).coordinate
    row = last + 2
    safe_text(ws.cell(row, 1), "Rows skipped as bad data (report period)").font = BOLD
    _table(
        ws, row + 1, ["Measure", "Rows skipped", "Meaning"],
        [[k, int(v), SKIPPED_MEANING.get(k, "")] for k, v in sorted(current.skipped.items())],
        [None, COUNT, None],
    )  # fmt: skip
    ws.column_dimensions["C"].width = max(ws.column_dimensions["C"].width or 0, 10)
    return out


def _mtta(ws: Any, ctx: _Context) -> None:
    target = _target(ctx, "mtta")
    _trend_sheet(
        ws, ctx, "MTTA (mean time to acknowledge)",
        ["Incidents", "Mean (h)", "Median (h)", "90th pct (h)", "Target (h)"],
        lambda p: [p.mtta.count, _h(p.mtta.mean), _h(p.mtta.median), _h(p.mtta.p90), target],
        [COUNT, HOURS, HOURS, HOURS, HOURS], [1, 2, 3, 4], "Hours",
        lambda p: p.mtta.count == 0, "no incident opened in the period has a first response",
    )  # fmt: skip


def _mttr(ws: Any, ctx: _Context) -> None:
    target = _target(ctx, "mttr")
    _trend_sheet(
        ws, ctx, "MTTR (mean time to resolve), wall-clock and business hours",
        ["Resolved", "Mean (h)", "Median (h)", "90th pct (h)", "Business mean (h)",
         "Business median (h)", "Business 90th pct (h)", "Target (h)"],
        lambda p: [p.mttr.count, _h(p.mttr.mean), _h(p.mttr.median), _h(p.mttr.p90),
                   _h(p.mttr_business.mean), _h(p.mttr_business.median),
                   _h(p.mttr_business.p90), target],
        [COUNT] + [HOURS] * 7, [1, 2, 3, 4, 7], "Hours",
        lambda p: p.mttr.count == 0, "no incident was resolved in the period",
    )  # fmt: skip


def _sla(ws: Any, ctx: _Context) -> None:
    target = _target(ctx, "sla_attainment")
    _trend_sheet(
        ws, ctx, "SLA attainment",
        ["Achieved", "Finished", "Attainment", "Response", "Resolution", "Target"],
        lambda p: [p.sla_attainment.numerator, p.sla_attainment.denominator,
                   _pct(p.sla_attainment.percent), _pct(p.sla_response.percent),
                   _pct(p.sla_resolution.percent), target],
        [COUNT, COUNT, PERCENT, PERCENT, PERCENT, PERCENT], [2, 3, 4, 5], "Attainment",
        lambda p: p.sla_attainment.denominator == 0, "no SLA clock finished in the period",
        y_format=PERCENT,
    )  # fmt: skip


def _daily_sheet(ws: Any, ctx: _Context, backlog: bool) -> None:
    d = ctx.current.daily
    title = "Backlog at the end of each day, by age" if backlog else "Arrivals vs resolutions"
    _head(ws, title, ctx, _no_data(ctx, not d.days, "no day of the period has ended yet"))
    if backlog:
        headers = ["Date", "Backlog", *AGING_BUCKETS]
        rows = [
            [day, d.backlog[i], *(d.aging[b][i] for b in AGING_BUCKETS)]
            for i, day in enumerate(d.days)
        ]
    else:
        headers = ["Date", "Arrivals", "Resolutions", "Net change"]
        rows = [
            [day, d.arrivals[i], d.resolutions[i], d.arrivals[i] - d.resolutions[i]]
            for i, day in enumerate(d.days)
        ]
    last = _table(ws, 5, headers, rows, [None] + [COUNT] * (len(headers) - 1))
    ws.freeze_panes = "B6"
    if backlog:
        _chart(ws, "area", f"Backlog by age, {ctx.period.label}", "Day", "Open incidents",
               5, last, 1, [3, 4, 5, 6], _anchor(len(headers)), stacked=True)  # fmt: skip
    else:
        _chart(ws, "bar", f"Arrivals and resolutions per day, {ctx.period.label}", "Day",
               "Incidents", 5, last, 1, [2, 3], _anchor(len(headers)))  # fmt: skip


def _rate_sheet(ws: Any, ctx: _Context, key: str, title: str, attr: str, names: tuple[str, str],
                what: str) -> None:  # fmt: skip
    target = _target(ctx, key)
    _trend_sheet(
        ws, ctx, title, [*names, "Rate", "Target"],
        lambda p: [getattr(p, attr).numerator, getattr(p, attr).denominator,
                   _pct(getattr(p, attr).percent), target],
        [COUNT, COUNT, PERCENT, PERCENT], [2, 3], "Percent",
        lambda p: getattr(p, attr).denominator == 0, what, y_format=PERCENT,
    )  # fmt: skip


def _availability(ws: Any, ctx: _Context) -> None:
    current = ctx.current
    _head(ws, "Availability and MTBF by service", ctx,
          _no_data(ctx, not current.availability, "no service matches the filters"))  # fmt: skip
    rows = []
    for a in current.availability:
        target = ctx.service_targets.get(a.service_id)
        ok = None if a.availability_percent is None or target is None else (
            a.availability_percent >= target
        )  # fmt: skip
        rows.append([
            ctx.names.get(a.service_id, f"#{a.service_id}"), a.outages, _h(a.outage_seconds),
            _pct(a.availability_percent), _pct(target),
            "" if ok is None else MET if ok else MISSED, _h(a.mtbf_seconds),
        ])  # fmt: skip
    headers = ["Service", "Outages", "Outage (h)", "Availability", "Target", "Status", "MTBF (h)"]
    last = _table(ws, 5, headers, rows, [None, COUNT, HOURS, "0.000%", "0.000%", None, HOURS],
                  [30, 10, 12, 13, 10, 12, 12])  # fmt: skip
    for r in range(6, last + 1):
        cell = ws.cell(r, 6)
        cell.fill = MET_FILL if cell.value == MET else MISSED_FILL if cell.value else cell.fill
    ws.freeze_panes = "B6"
    _chart(ws, "bar", f"Availability by service, {ctx.period.label}", "Service", "Availability",
           5, last, 1, [4], _anchor(len(headers)), "0.0%")  # fmt: skip
    # The trend: all outages and the mean availability of the services, per period.
    top = max(last + 3, 27)
    safe_text(ws.cell(top - 1, 1), f"Trend, last {TREND_PERIODS} {ctx.period.kind}s").font = BOLD
    target = _target(ctx, "availability")
    trend = [
        [p.label, sum(a.outages for a in k.availability),
         _h(sum(a.outage_seconds for a in k.availability)), _pct(mean_availability(k)), target]
        for p, k in zip(ctx.periods, ctx.trend, strict=True)
    ]  # fmt: skip
    end = _table(ws, top, ["Period", "Outages", "Outage (h)", "Mean availability", "Target"],
                 trend, [None, COUNT, HOURS, "0.000%", "0.000%"])  # fmt: skip
    _chart(ws, "line", f"Mean availability, last {TREND_PERIODS} {ctx.period.kind}s",
           ctx.period.kind.capitalize(), "Availability", top, end, 1, [4, 5],
           _anchor(len(headers), top), "0.0%")  # fmt: skip


def _csat_nps(ws: Any, ctx: _Context) -> None:
    csat, nps = _target(ctx, "csat"), ctx.targets["nps"].target
    last = _trend_sheet(
        ws, ctx, "Customer satisfaction (CSAT) and Net Promoter Score (NPS)",
        ["Satisfied (4-5)", "CSAT responses", "CSAT", "CSAT target", "NPS", "NPS responses",
         "NPS target"],
        lambda p: [p.csat.numerator, p.csat.denominator, _pct(p.csat.percent), csat, p.nps,
                   p.nps_responses, nps],
        [COUNT, COUNT, PERCENT, PERCENT, SCORE, COUNT, SCORE], [3, 4], "CSAT",
        lambda p: p.csat.denominator == 0 and p.nps_responses == 0,
        "no survey response in the period", y_format=PERCENT,
    )  # fmt: skip
    _chart(ws, "line", f"NPS, last {TREND_PERIODS} {ctx.period.kind}s",
           ctx.period.kind.capitalize(), "NPS (-100 to 100)", 5, last, 1, [7, 9],
           _anchor(9, 27))  # fmt: skip


_SHEET_WRITERS: dict[str, Callable[[Any, _Context], None]] = {
    "MTTA": _mtta,
    "MTTR": _mttr,
    "SLA attainment": _sla,
    "Backlog": lambda ws, ctx: _daily_sheet(ws, ctx, backlog=True),
    "Arrivals vs resolutions": lambda ws, ctx: _daily_sheet(ws, ctx, backlog=False),
    "Reopen rate": lambda ws, ctx: _rate_sheet(
        ws, ctx, "reopen_rate", "Reopen rate", "reopen_rate", ("Reopened", "Resolved"),
        "no incident was resolved in the period"),
    "FCR": lambda ws, ctx: _rate_sheet(
        ws, ctx, "fcr", "First contact resolution", "fcr", ("Resolved first time", "Resolved"),
        "no incident was resolved in the period"),
    "Availability": _availability,
    "Change success": lambda ws, ctx: _rate_sheet(
        ws, ctx, "change_success", "Change success rate", "change_success",
        ("Successful", "Implemented"), "no change was implemented in the period"),
    "Emergency ratio": lambda ws, ctx: _rate_sheet(
        ws, ctx, "emergency_ratio", "Emergency change ratio", "emergency_ratio",
        ("Emergency", "Raised"), "no change was raised in the period"),
    "CSAT & NPS": _csat_nps,
}  # fmt: skip
