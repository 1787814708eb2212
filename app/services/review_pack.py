"""Vendor review packs: one vendor's period as a workbook, and the all-vendors summary.

The pack is what a vendor sees at the review: a cover, the scorecard (its scores and
weighted total are live Excel formulas, so changing a weight or a 1-5 rating in Excel moves
the total; the RAG thresholds are cells too), the trend with a native line chart, the
contracted targets, the breached SLAs, the service-credit calculation (formulas beside the
steps in words) and the actions agreed. Files are written to a temporary name and renamed
into place, so a failure or a cancel leaves no partial file.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.chart import BarChart, LineChart, Reference
from openpyxl.formatting.rule import FormulaRule
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Contract
from app.services import scorecards as sc
from app.services.io.excel import fit_to_width, put, safe_text, save_workbook
from app.services.kpi import KpiColumns
from app.services.progress import Progress, silent

PACK_SHEETS = (
    "Cover",
    "Scorecard",
    "Trend",
    "Contract targets",
    "Breached SLAs",
    "Credits",
    "Actions",
)
SUMMARY_SHEETS = ("Summary", "Trend", "Credits")
GREEN_FILL = PatternFill("solid", fgColor="C6EFCE")
AMBER_FILL = PatternFill("solid", fgColor="FFEB9C")
RED_FILL = PatternFill("solid", fgColor="F4B084")
HEADER_FILL = PatternFill("solid", fgColor="D9D9D9")
INPUT_FILL = PatternFill("solid", fgColor="FFF2CC")  # cells a reviewer may change
BOLD = Font(bold=True)
TITLE = Font(bold=True, size=16)
SUBTITLE = Font(bold=True, size=12)
NOTE = Font(italic=True, color="595959")
RED_TEXT = Font(bold=True, color="C00000")
MONEY = "#,##0.00"
SCORE = "0.0"
PCT = "0.00"
WRAP = Alignment(wrap_text=True, vertical="top")
NOT_MEASURABLE = "not measurable"


@dataclass(frozen=True)
class PackSummary:
    """What was written."""

    path: Path
    title: str
    sheets: tuple[str, ...]
    seconds: float

    def line(self) -> str:
        return (
            f"{self.title} written to {self.path} ({len(self.sheets)} sheets, {self.seconds:.1f} s)"
        )


# --- small helpers -------------------------------------------------------------------------


def _header(ws: Any, row: int, headers: Sequence[str], widths: Sequence[float]) -> None:
    for j, (text, width) in enumerate(zip(headers, widths, strict=True), start=1):
        cell = safe_text(ws.cell(row, j), text)
        cell.font = BOLD
        cell.fill = HEADER_FILL
        cell.alignment = Alignment(wrap_text=True, vertical="center")
        letter = get_column_letter(j)
        ws.column_dimensions[letter].width = max(ws.column_dimensions[letter].width or 0, width)


def _title(ws: Any, title: str, subtitle: str) -> None:
    safe_text(ws["A1"], title).font = TITLE
    safe_text(ws["A2"], subtitle).font = NOTE


def _rag_rules(ws: Any, target: str, first: str, green: str, amber: str) -> None:
    """Green / amber / red fills on ``target`` from the score in ``first`` (its top-left
    cell, relative) against threshold cells ``green`` and ``amber`` (absolute)."""
    rules = (
        (f"AND(ISNUMBER({first}),{first}>={green})", GREEN_FILL),
        (f"AND(ISNUMBER({first}),{first}>={amber},{first}<{green})", AMBER_FILL),
        (f"AND(ISNUMBER({first}),{first}<{amber})", RED_FILL),
    )
    for formula, fill in rules:
        ws.conditional_formatting.add(target, FormulaRule(formula=[formula], fill=fill))


def _num(ws: Any, row: int, col: int, value: Any, fmt: str | None = None) -> Any:
    cell = put(ws.cell(row, col), value)
    if fmt and isinstance(value, int | float):
        cell.number_format = fmt
    return cell


def _lines(text: str, width: float) -> int:
    """Lines a wrapped cell of ``width`` characters needs (row heights are not automatic)."""
    return max(1, math.ceil(len(text) / max(width - 2, 1))) if text else 1


def _rag_word(value: str | None) -> str:
    return value.capitalize() if value else "-"


def _now(now: dt.datetime | None) -> dt.datetime:
    return now or dt.datetime.now(dt.UTC)


# --- the scorecard sheet -------------------------------------------------------------------


@dataclass(frozen=True)
class _ScorecardCells:
    total: str  # e.g. "I15", on the Scorecard sheet
    rag: str
    weights: str
    green: str
    amber: str


def _scorecard_sheet(ws: Any, card: sc.Scorecard) -> _ScorecardCells:
    _title(ws, f"{card.vendor}: scorecard {card.period}",
           f"Template {card.template!r}. Scores 0-100; the total is the weighted mean of the "
           "measurable criteria. Yellow cells may be changed: the scores and total follow.")  # fmt: skip
    safe_text(ws["A4"], "Green at or above").font = BOLD
    safe_text(ws["A5"], "Amber at or above").font = BOLD
    for ref, value in (("C4", card.green_min), ("C5", card.amber_min)):
        _num(ws, int(ref[1:]), 3, float(value), SCORE).fill = INPUT_FILL
    safe_text(ws["D4"], "below amber is red").font = NOTE
    headers = ["Criterion", "Kind", "Weight (%)", "Value", "Unit", "Rating (1-5)",
               "Target (scores 100)", "Floor (scores 0)", "Score (0-100)", "Weighted points",
               "Basis, or why not measurable", "Comment"]  # fmt: skip
    _header(ws, 7, headers, [30, 10, 9, 11, 9, 9, 11, 11, 10, 9, 46, 30])
    ws.row_dimensions[7].height = 30
    first = 8
    for i, c in enumerate(card.criteria):
        r = first + i
        safe_text(ws.cell(r, 1), c.name)
        safe_text(ws.cell(r, 2), c.kind)
        _num(ws, r, 3, c.weight, "0.##").fill = INPUT_FILL
        safe_text(ws.cell(r, 5), c.unit)
        if c.kind == "judged":
            if c.value is not None:
                _num(ws, r, 6, int(c.value), "0")
            ws.cell(r, 6).fill = INPUT_FILL
            ws.cell(r, 9).value = (
                f"=IF(AND(ISNUMBER(F{r}),F{r}>=1,F{r}<=5,F{r}=INT(F{r})),(F{r}-1)*25,"
                f'"{NOT_MEASURABLE}")'
            )
        else:
            if c.value is not None:
                _num(ws, r, 4, c.value, "#,##0" if c.metric == "incident_count" else "#,##0.00")
            if c.target is not None:
                _num(ws, r, 7, c.target, "#,##0.00")
            if c.floor is not None:
                _num(ws, r, 8, c.floor, "#,##0.00")
            if c.score is None:
                safe_text(ws.cell(r, 9), NOT_MEASURABLE)
            else:
                ws.cell(r, 9).value = (
                    f"=ROUND(MAX(0,MIN(1,(D{r}-H{r})/(G{r}-H{r})))*100,1)"
                )  # fmt: skip
        ws.cell(r, 9).number_format = SCORE
        ws.cell(r, 9).alignment = Alignment(horizontal="right")
        ws.cell(r, 10).value = f'=IF(ISNUMBER(I{r}),C{r}*I{r}/100,"")'
        ws.cell(r, 10).number_format = SCORE
        safe_text(ws.cell(r, 11), c.reason).alignment = WRAP
        if c.comment:
            safe_text(ws.cell(r, 12), c.comment).alignment = WRAP
        lines = max(_lines(c.reason, 46), _lines(c.comment, 30))
        if lines > 1:
            ws.row_dimensions[r].height = 15 * lines
    last = first + max(len(card.criteria), 1) - 1
    t = last + 1
    weights, scores = f"C{first}:C{last}", f"I{first}:I{last}"
    safe_text(ws.cell(t, 1), "Total").font = BOLD
    ws.cell(t, 3).value = f"=SUM({weights})"
    ws.cell(t, 3).number_format = "0.##"
    ws.cell(t, 3).font = BOLD
    scored = f"SUMPRODUCT({weights},--ISNUMBER({scores}))"
    ws.cell(t, 9).value = (
        f'=IF(ABS(C{t}-100)>0.001,"not computed",IF({scored}=0,"{NOT_MEASURABLE}",'
        f"ROUND(SUMPRODUCT({weights},{scores})/{scored},1)))"
    )
    ws.cell(t, 9).number_format = SCORE
    ws.cell(t, 9).font = Font(bold=True, size=12)
    ws.cell(
        t, 10
    ).value = f'=IF(ISNUMBER(I{t}),IF(I{t}>=$C$4,"Green",IF(I{t}>=$C$5,"Amber","Red")),"-")'
    ws.cell(t, 10).font = BOLD
    ws.cell(t, 11).value = (
        f'=IF(ABS(C{t}-100)>0.001,"Weights sum to "&TEXT(C{t},"0.##")&"%, not 100%: '
        f'no total until they do","Weights sum to 100%")'
    )
    _rag_rules(ws, f"I{first}:I{t}", f"I{first}", "$C$4", "$C$5")
    _rag_rules(ws, f"J{t}", f"I{t}", "$C$4", "$C$5")
    ws.conditional_formatting.add(
        f"C{t}", FormulaRule(formula=[f"ABS(C{t}-100)>0.001"], fill=RED_FILL, font=RED_TEXT)
    )
    ws.conditional_formatting.add(
        f"K{t}", FormulaRule(formula=[f"ABS(C{t}-100)>0.001"], font=RED_TEXT)
    )
    rating = DataValidation(type="whole", operator="between", formula1="1", formula2="5",
                            showErrorMessage=True, error="A judged score is a whole number 1-5",
                            errorTitle="Rating")  # fmt: skip
    ws.add_data_validation(rating)
    for i, c in enumerate(card.criteria):
        if c.kind == "judged":
            rating.add(f"F{first + i}")
    row = t + 2
    if card.problems:
        safe_text(ws.cell(row, 1), "Notes").font = BOLD
        for k, text in enumerate(card.problems, start=1):
            safe_text(ws.cell(row + k, 1), text).font = RED_TEXT
    ws.freeze_panes = "B8"
    fit_to_width(ws, header_rows=7)
    return _ScorecardCells(f"I{t}", f"J{t}", f"C{t}", "$C$4", "$C$5")


# --- the pack ------------------------------------------------------------------------------


def write_review_pack(
    session: Session,
    cols: KpiColumns,
    vendor_id: int,
    period: str | sc.Period,
    path: str | Path,
    progress: Progress | None = None,
    now: dt.datetime | None = None,
) -> PackSummary:
    """Write the review pack of one vendor and period to ``path`` (.xlsx)."""
    began = time.perf_counter()
    progress = progress or silent()
    p = sc.parse_period(period)
    now = _now(now)
    steps = 6
    progress.update(0, steps, "Scoring")
    card = sc.scorecard(cols, session, vendor_id, p, now=now)
    progress.update(1, steps, "Trend")
    history = sc.trend(cols, session, vendor_id, p, now=now)
    progress.update(2, steps, "Service credits")
    credit = sc.credits(session, vendor_id, p, cols, now=now)
    progress.update(3, steps, "Breached SLAs")
    breached = sc.breached_slas(session, cols, vendor_id, p)
    actions = sc.list_actions(session, vendor_id, p)
    from app.services.vendors import contract_warnings

    warnings = contract_warnings(session, now.date(), [vendor_id])
    progress.update(4, steps, "Writing the workbook")
    wb = Workbook()
    wb.remove(wb.active)
    sheets = {name: wb.create_sheet(name) for name in PACK_SHEETS}
    cells = _scorecard_sheet(sheets["Scorecard"], card)
    _trend_sheet(sheets["Trend"], card, history, cells)
    _targets_sheet(sheets["Contract targets"], card)
    _breached_sheet(sheets["Breached SLAs"], card, breached)
    credit_total = _credits_sheet(sheets["Credits"], card, credit)
    _actions_sheet(sheets["Actions"], card, actions, now.date())
    _cover(sheets["Cover"], card, history, cells, credit, credit_total, breached, actions,
           warnings, _contract_lines(session, vendor_id, p), now)  # fmt: skip
    progress.update(5, steps, "Saving")
    save_workbook(wb, path)
    progress.update(steps, steps, "Done")
    return PackSummary(Path(path), f"Review pack of {card.vendor} for {p.label}",
                       PACK_SHEETS, time.perf_counter() - began)  # fmt: skip


def _cover(
    ws: Any, card: sc.Scorecard, history: list[sc.Scorecard], cells: _ScorecardCells,
    credit: sc.CreditCalculation, credit_total: str | None, breached: list[dict[str, Any]],
    actions: list[sc.ActionItem], warnings: list[Any], contracts: list[tuple[str, str]],
    now: dt.datetime,
) -> None:  # fmt: skip
    safe_text(ws["A1"], "Vendor review").font = NOTE
    safe_text(ws["A2"], card.vendor).font = Font(bold=True, size=20)
    ws.row_dimensions[2].height = 30
    p = sc.parse_period(card.period)
    safe_text(ws["A3"], p.title).font = SUBTITLE
    ws.column_dimensions["A"].width = 30
    ws.column_dimensions["B"].width = 22
    ws.column_dimensions["C"].width = 70
    previous = history[-2] if len(history) > 1 else None
    open_actions = sum(1 for a in actions if a.status == "open")
    overdue = sum(1 for a in actions if a.overdue(now.date()))
    rows: list[tuple[str, Any, str | None, str]] = [
        ("Score (0-100)", f"=Scorecard!{cells.total}", SCORE, "weighted total, from the Scorecard sheet"),
        ("Rating", f"=Scorecard!{cells.rag}", None, ""),
        ("Green at or above", f"=Scorecard!{cells.green}", SCORE, ""),
        ("Amber at or above", f"=Scorecard!{cells.amber}", SCORE, ""),
        (f"Previous ({previous.period})" if previous else "Previous",
         previous.total if previous and previous.total is not None else "-", SCORE,
         _rag_word(previous.rag) if previous else "no earlier period"),
        ("Incidents in the period", card.incidents, "#,##0", "attributed to the vendor"),
        ("Breached SLAs", len(breached), "#,##0", "SLA clocks that finished breached"),
        ("Service credits owed", f"=Credits!{credit_total}" if credit_total else 0, MONEY,
         ", ".join(credit.totals) or "see the Credits sheet"),
        ("Actions open", open_actions, "0", f"{overdue} overdue" if overdue else ""),
        ("Scorecard template", card.template, None, ""),
        ("Generated", f"{now.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC", None, ""),
    ]  # fmt: skip
    start = 5
    for i, (label, value, fmt, note) in enumerate(rows):
        r = start + i
        safe_text(ws.cell(r, 1), label).font = BOLD
        if isinstance(value, str) and value.startswith("="):
            ws.cell(r, 2).value = value
            if fmt:
                ws.cell(r, 2).number_format = fmt
        else:
            _num(ws, r, 2, value, fmt)
        ws.cell(r, 2).alignment = Alignment(horizontal="left")
        if note:
            safe_text(ws.cell(r, 3), note).font = NOTE
    ws.cell(start, 2).font = Font(bold=True, size=14)
    # RAG on the score and rating, against the thresholds shown just below them.
    green, amber = f"$B${start + 2}", f"$B${start + 3}"
    _rag_rules(ws, f"B{start}:B{start + 1}", f"$B${start}", green, amber)
    r = start + len(rows) + 1
    safe_text(ws.cell(r, 1), "Contracts").font = SUBTITLE
    for k, (head, text) in enumerate(contracts, start=1):
        safe_text(ws.cell(r + k, 1), head).font = BOLD
        safe_text(ws.cell(r + k, 2), text)
    if not contracts:
        safe_text(ws.cell(r + 1, 1), "No contract covers the period.").font = RED_TEXT
    r += len(contracts) + 2
    notes = [*card.problems, *(w.message for w in warnings)]
    if notes:
        safe_text(ws.cell(r, 1), "Points to raise").font = SUBTITLE
        for k, text in enumerate(notes, start=1):
            cell = safe_text(ws.cell(r + k, 1), f"• {text}")
            cell.font = RED_TEXT
    fit_to_width(ws, landscape=False)


def _contract_lines(session: Session, vendor_id: int, p: sc.Period) -> list[tuple[str, str]]:
    rows = session.scalars(
        select(Contract)
        .where(Contract.vendor_id == vendor_id, Contract.starts_on <= p.end,
               Contract.ends_on >= p.start)
        .order_by(Contract.starts_on)
    ).all()  # fmt: skip
    out = []
    for c in rows:
        renew = "renews automatically" if c.auto_renew else "ends unless renewed"
        out.append((
            c.reference,
            f"{c.title}; {c.starts_on:%d %b %Y} to {c.ends_on:%d %b %Y} ({renew}, "
            f"{c.renewal_notice_days} days' notice); {c.currency} {float(c.monthly_fee):,.2f} "
            f"a month; {len(c.sla_targets)} SLA targets, {len(c.credit_rules)} credit rules",
        ))  # fmt: skip
    return out


# --- the other sheets of the pack ----------------------------------------------------------


def _trend_sheet(
    ws: Any, card: sc.Scorecard, history: list[sc.Scorecard], cells: _ScorecardCells
) -> None:
    _title(ws, f"{card.vendor}: score over the last {len(history)} periods",
           "The latest period follows the Scorecard sheet (change a weight there and it moves).")  # fmt: skip
    names = [c.name for c in card.criteria]
    headers = ["Period", "Start", "Total", "Green at or above", "Amber at or above", "RAG", *names]
    _header(ws, 4, headers, [10, 11, 9, 10, 10, 8] + [14] * len(names))
    ws.row_dimensions[4].height = 30
    last = 4
    for i, h in enumerate(history):
        r = 5 + i
        last = r
        safe_text(ws.cell(r, 1), h.period)
        put(ws.cell(r, 2), h.start)
        if h is history[-1]:
            ws.cell(
                r, 3
            ).value = f"=IF(ISNUMBER(Scorecard!{cells.total}),Scorecard!{cells.total},NA())"
            ws.cell(r, 4).value = f"=Scorecard!{cells.green}"
            ws.cell(r, 5).value = f"=Scorecard!{cells.amber}"
            ws.cell(r, 6).value = f"=Scorecard!{cells.rag}"
        else:
            if h.total is not None:
                _num(ws, r, 3, h.total, SCORE)
            _num(ws, r, 4, h.green_min, SCORE)
            _num(ws, r, 5, h.amber_min, SCORE)
            safe_text(ws.cell(r, 6), _rag_word(h.rag))
        ws.cell(r, 3).number_format = SCORE
        for j, name in enumerate(names, start=7):
            try:
                score = h.criterion(name).score
            except KeyError:
                score = None
            if score is None:
                safe_text(ws.cell(r, j), "n/m").font = NOTE
            else:
                _num(ws, r, j, score, SCORE)
    _rag_rules(ws, f"C5:C{last}", "C5", "$D5", "$E5")
    _rag_rules(ws, f"G5:{get_column_letter(6 + len(names))}{last}", "G5", "$D5", "$E5")
    ws.freeze_panes = "B5"
    chart = LineChart()
    chart.title = f"{card.vendor}: scorecard total"
    chart.y_axis.title = "Score (0-100)"
    chart.x_axis.title = "Period"
    chart.y_axis.scaling.min = 0
    chart.y_axis.scaling.max = 100
    chart.x_axis.delete = False
    chart.y_axis.delete = False
    chart.width, chart.height = 22, 11
    chart.add_data(Reference(ws, min_col=3, max_col=5, min_row=4, max_row=last),
                   titles_from_data=True)  # fmt: skip
    chart.set_categories(Reference(ws, min_col=1, min_row=5, max_row=last))
    for series in chart.series:
        series.smooth = False
    total, green, amber = chart.series
    total.marker.symbol = "circle"
    total.graphicalProperties.line.width = 28575
    for s, colour in ((green, "70AD47"), (amber, "FFC000")):
        s.graphicalProperties.line.solidFill = colour
        s.graphicalProperties.line.dashStyle = "dash"
    ws.add_chart(chart, f"A{last + 3}")
    fit_to_width(ws)


def _targets_sheet(ws: Any, card: sc.Scorecard) -> None:
    _title(ws, f"{card.vendor}: contracted SLA targets, {card.period}",
           "Response: incidents opened in the period with a response; resolution: incidents "
           "resolved in the period; times are wall-clock.")  # fmt: skip
    headers = ["Contract", "Target", "Priority", "Within (min)", "Required %", "Met", "Of",
               "Achieved %", "Status", "Basis"]  # fmt: skip
    _header(ws, 4, headers, [14, 12, 9, 12, 11, 9, 9, 11, 15, 44])
    r = 4
    for r, t in enumerate(card.targets, start=5):
        safe_text(ws.cell(r, 1), t.contract)
        safe_text(ws.cell(r, 2), t.metric)
        safe_text(ws.cell(r, 3), f"P{t.priority}" if t.priority else "all")
        _num(ws, r, 4, t.target_minutes, "#,##0")
        _num(ws, r, 5, t.target_percent, PCT)
        if t.metric != "availability":
            _num(ws, r, 6, t.met, "#,##0")
            _num(ws, r, 7, t.total, "#,##0")
        _num(ws, r, 8, t.percent, PCT)
        status = NOT_MEASURABLE if t.ok is None else "met" if t.ok else "missed"
        cell = safe_text(ws.cell(r, 9), status)
        cell.fill = GREEN_FILL if t.ok else RED_FILL if t.ok is False else PatternFill()
        safe_text(ws.cell(r, 10), t.reason)
    if not card.targets:
        safe_text(ws.cell(5, 1), "No contract of the period has SLA targets: nothing to "
                  "measure against.").font = RED_TEXT  # fmt: skip
    else:
        ws.auto_filter.ref = f"A4:J{r}"
    ws.freeze_panes = "A5"
    fit_to_width(ws, header_rows=4)


def _breached_sheet(ws: Any, card: sc.Scorecard, rows: list[dict[str, Any]]) -> None:
    _title(ws, f"{card.vendor}: breached SLAs, {card.period}",
           f"{len(rows):,} SLA clocks of the vendor's incidents finished breached in the "
           "period (times in UTC).")  # fmt: skip
    headers = ["Incident", "Priority", "SLA", "Target", "Due", "Stopped", "Hours over",
               "Short description"]  # fmt: skip
    _header(ws, 4, headers, [13, 9, 34, 11, 17, 17, 11, 60])
    r = 4
    for r, b in enumerate(rows, start=5):
        safe_text(ws.cell(r, 1), b["number"])
        safe_text(ws.cell(r, 2), f"P{b['priority']}")
        safe_text(ws.cell(r, 3), b["sla"])
        safe_text(ws.cell(r, 4), b["target"])
        put(ws.cell(r, 5), b["due_at"], dt.UTC)
        put(ws.cell(r, 6), b["stopped_at"], dt.UTC)
        _num(ws, r, 7, b["hours_over"], "0.00")
        safe_text(ws.cell(r, 8), b["short_description"] or "")
    if not rows:
        safe_text(ws.cell(5, 1), "No SLA was breached in the period.")
    else:
        ws.auto_filter.ref = f"A4:H{r}"
    ws.freeze_panes = "B5"
    fit_to_width(ws, header_rows=4)


def _credits_sheet(ws: Any, card: sc.Scorecard, credit: sc.CreditCalculation) -> str | None:
    """Returns the cell holding the total credit (None without lines)."""
    _title(ws, f"{card.vendor}: service credits, {card.period}",
           "Credit % = min(cap, points below target x % per point) of the month's fee. "
           "The formulas recompute if a figure is changed.")  # fmt: skip
    headers = ["Contract", "Month", "Metric", "Measured %", "Target %", "Points below",
               "% per point", "Cap %", "Credit %", "Monthly fee", "Currency", "Credit owed"]  # fmt: skip
    _header(ws, 4, headers, [14, 10, 15, 11, 10, 10, 10, 8, 9, 13, 9, 13])
    first = r = 5
    for r, line in enumerate(credit.lines, start=first):
        safe_text(ws.cell(r, 1), line.contract)
        safe_text(ws.cell(r, 2), line.month)
        safe_text(ws.cell(r, 3), line.metric.replace("_", " "))
        if line.measured is None:
            safe_text(ws.cell(r, 4), NOT_MEASURABLE)
        else:
            _num(ws, r, 4, line.measured, "0.000")
        _num(ws, r, 5, line.target, "0.000")
        ws.cell(r, 6).value = f'=IF(ISNUMBER(D{r}),MAX(0,ROUND(E{r}-D{r},2)),"{NOT_MEASURABLE}")'
        _num(ws, r, 7, line.percent_per_point, "0.00")
        _num(ws, r, 8, line.cap_percent, "0.00")
        ws.cell(r, 9).value = f'=IF(ISNUMBER(F{r}),MIN(H{r},F{r}*G{r}),"")'
        _num(ws, r, 10, line.monthly_fee, MONEY)
        safe_text(ws.cell(r, 11), line.currency)
        ws.cell(r, 12).value = f'=IF(ISNUMBER(I{r}),ROUND(J{r}*I{r}/100,2),"")'
        for col, fmt in ((6, "0.00"), (9, "0.00"), (12, MONEY)):
            ws.cell(r, col).number_format = fmt
    total_ref = None
    if credit.lines:
        t = r + 1
        safe_text(ws.cell(t, 1), "Total owed").font = BOLD
        ws.cell(t, 12).value = f"=SUM(L{first}:L{r})"
        ws.cell(t, 12).number_format = MONEY
        ws.cell(t, 12).font = BOLD
        total_ref = f"L{t}"
        r = t
    safe_text(ws.cell(r + 2, 1), "The calculation in words").font = SUBTITLE
    for k, step in enumerate(credit.steps, start=r + 3):
        safe_text(ws.cell(k, 1), step)
    ws.freeze_panes = "A5"
    fit_to_width(ws, header_rows=4)
    return total_ref


def _actions_sheet(ws: Any, card: sc.Scorecard, actions: list[sc.ActionItem],
                   today: dt.date) -> None:  # fmt: skip
    _title(ws, f"{card.vendor}: actions, {card.period}",
           "Agreed at this review, and those of earlier reviews still open.")  # fmt: skip
    _header(ws, 4, ["Agreed at", "Action", "Owner", "Due", "Status", "Overdue"],
            [11, 60, 24, 12, 10, 9])  # fmt: skip
    r = 4
    for r, a in enumerate(actions, start=5):
        safe_text(ws.cell(r, 1), a.period)
        safe_text(ws.cell(r, 2), a.description).alignment = WRAP
        safe_text(ws.cell(r, 3), a.owner)
        put(ws.cell(r, 4), a.due_on)
        safe_text(ws.cell(r, 5), a.status)
        if a.overdue(today):
            cell = safe_text(ws.cell(r, 6), "yes")
            cell.fill = RED_FILL
            cell.font = BOLD
    if not actions:
        safe_text(ws.cell(5, 1), "No actions agreed yet.")
    else:
        ws.auto_filter.ref = f"A4:F{r}"
    ws.freeze_panes = "A5"
    fit_to_width(ws, header_rows=4)


# --- the all-vendors summary ---------------------------------------------------------------


def write_summary(
    session: Session,
    cols: KpiColumns,
    period: str | sc.Period,
    path: str | Path,
    progress: Progress | None = None,
    now: dt.datetime | None = None,
) -> PackSummary:
    """Write every active vendor's scorecard of ``period`` side by side (.xlsx)."""
    began = time.perf_counter()
    progress = progress or silent()
    p = sc.parse_period(period)
    now = _now(now)
    periods = sc.trend_periods(p)
    progress.update(0, 4, "Scoring every vendor")
    grid = sc.scorecard_grid(cols, session, periods, now=now)
    vendor_ids = sorted({v for v, _ in grid}, key=lambda v: grid[(v, p.label)].vendor.casefold())
    progress.update(1, 4, "Service credits")
    credit = sc.credits_of(session, vendor_ids, p, cols, now=now)
    actions = {v: sc.list_actions(session, v, p) for v in vendor_ids}
    progress.update(2, 4, "Writing the workbook")
    wb = Workbook()
    wb.remove(wb.active)
    ws = wb.create_sheet("Summary")
    cards = [grid[(v, p.label)] for v in vendor_ids]
    green = cards[0].green_min if cards else 85.0
    amber = cards[0].amber_min if cards else 70.0
    _title(ws, f"Vendor scorecards, {p.title}",
           f"{len(cards)} active vendors. Generated {now.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC. "
           "Change the thresholds in the yellow cells to re-colour the table.")  # fmt: skip
    safe_text(ws["A4"], "Green at or above").font = BOLD
    safe_text(ws["A5"], "Amber at or above").font = BOLD
    _num(ws, 4, 2, float(green), SCORE).fill = INPUT_FILL
    _num(ws, 5, 2, float(amber), SCORE).fill = INPUT_FILL
    headers = ["Vendor", "Total", "RAG", "Previous", "Change", "Incidents", "Not measurable",
               "Credits owed", "Currency", "Open actions", "Notes"]  # fmt: skip
    _header(ws, 7, headers, [30, 9, 8, 10, 9, 10, 10, 13, 9, 9, 70])
    r = 7
    for r, card in enumerate(cards, start=8):
        prev = grid[(card.vendor_id, periods[-2].label)]
        safe_text(ws.cell(r, 1), card.vendor)
        if card.total is None:
            safe_text(ws.cell(r, 2), "not computed" if card.weight_sum != 100 else NOT_MEASURABLE)
        else:
            _num(ws, r, 2, card.total, SCORE)
        ws.cell(
            r, 3
        ).value = f'=IF(ISNUMBER(B{r}),IF(B{r}>=$B$4,"Green",IF(B{r}>=$B$5,"Amber","Red")),"-")'
        _num(ws, r, 4, prev.total, SCORE)
        ws.cell(r, 5).value = f'=IF(AND(ISNUMBER(B{r}),ISNUMBER(D{r})),B{r}-D{r},"")'
        ws.cell(r, 5).number_format = "+0.0;-0.0;0.0"
        _num(ws, r, 6, card.incidents, "#,##0")
        _num(ws, r, 7, sum(1 for c in card.criteria if c.score is None), "0")
        c = credit[card.vendor_id]
        _num(ws, r, 8, c.total, MONEY)
        safe_text(ws.cell(r, 9), ", ".join(c.totals) or "")
        _num(ws, r, 10, sum(1 for a in actions[card.vendor_id] if a.status == "open"), "0")
        safe_text(ws.cell(r, 11), " ".join(card.problems))
    last = r
    if cards:
        _rag_rules(ws, f"B8:C{last}", "$B8", "$B$4", "$B$5")
        ws.auto_filter.ref = f"A7:K{last}"
        chart = BarChart()
        chart.type = "bar"
        chart.title = f"Scorecard totals, {p.label}"
        chart.y_axis.title = "Score (0-100)"
        chart.y_axis.scaling.min = 0
        chart.y_axis.scaling.max = 100
        chart.x_axis.delete = False
        chart.y_axis.delete = False
        chart.x_axis.scaling.orientation = "maxMin"
        chart.legend = None
        chart.width, chart.height = 20, max(8, 0.6 * len(cards))
        chart.add_data(Reference(ws, min_col=2, min_row=7, max_row=last), titles_from_data=True)
        chart.set_categories(Reference(ws, min_col=1, min_row=8, max_row=last))
        ws.add_chart(chart, f"A{last + 3}")
    ws.freeze_panes = "B8"
    fit_to_width(ws, header_rows=7)

    tr = wb.create_sheet("Trend")
    _title(tr, f"Scorecard totals over the last {len(periods)} {p.kind}s",
           "Coloured against the thresholds on the Summary sheet.")  # fmt: skip
    _header(tr, 4, ["Vendor", *(q.label for q in periods)], [30] + [10] * len(periods))
    for i, card in enumerate(cards, start=5):
        safe_text(tr.cell(i, 1), card.vendor)
        for j, q in enumerate(periods, start=2):
            total = grid[(card.vendor_id, q.label)].total
            if total is None:
                safe_text(tr.cell(i, j), "n/m").font = NOTE
            else:
                _num(tr, i, j, total, SCORE)
    if cards:
        end = get_column_letter(1 + len(periods))
        _rag_rules(tr, f"B5:{end}{4 + len(cards)}", "B5", "Summary!$B$4", "Summary!$B$5")
    tr.freeze_panes = "B5"
    fit_to_width(tr, header_rows=4)

    cr = wb.create_sheet("Credits")
    _title(cr, f"Service credits owed, {p.label}", "Each contract rule, month by month.")
    _header(cr, 4, ["Vendor", "Contract", "Month", "Metric", "Measured %", "Target %",
                    "Credit %", "Currency", "Credit owed", "Calculation"],
            [26, 14, 10, 15, 11, 10, 9, 9, 13, 90])  # fmt: skip
    r = 4
    for card in cards:
        for line in credit[card.vendor_id].lines:
            r += 1
            safe_text(cr.cell(r, 1), card.vendor)
            safe_text(cr.cell(r, 2), line.contract)
            safe_text(cr.cell(r, 3), line.month)
            safe_text(cr.cell(r, 4), line.metric.replace("_", " "))
            if line.measured is None:
                safe_text(cr.cell(r, 5), NOT_MEASURABLE)
            else:
                _num(cr, r, 5, line.measured, "0.000")
            _num(cr, r, 6, line.target, "0.000")
            _num(cr, r, 7, line.credit_percent, "0.00")
            safe_text(cr.cell(r, 8), line.currency)
            _num(cr, r, 9, line.amount, MONEY)
            safe_text(cr.cell(r, 10), line.text)
    if r > 4:
        cr.auto_filter.ref = f"A4:J{r}"
        safe_text(cr.cell(r + 1, 1), "Total owed").font = BOLD
        cr.cell(r + 1, 9).value = f"=SUM(I5:I{r})"
        cr.cell(r + 1, 9).number_format = MONEY
        cr.cell(r + 1, 9).font = BOLD
    cr.freeze_panes = "B5"
    fit_to_width(cr, header_rows=4)
    progress.update(3, 4, "Saving")
    save_workbook(wb, path)
    progress.update(4, 4, "Done")
    return PackSummary(Path(path), f"Vendor summary for {p.label}", SUMMARY_SHEETS,
                       time.perf_counter() - began)  # fmt: skip
