"""An on-call roster out to a workbook and to calendars.

The shifts of a schedule over whole weeks (days in the schedule's zone) come from the
solver's roster if one covers the period (``RosterShift`` rows; published rosters before
drafts, newer before older), else from the schedule's layers; overrides are laid on top
either way, as they win over every layer (DOMAIN.md).

* The workbook: a "Roster" grid of people x days (cell = the codes of the layers the person
  covers that day, ``*`` for an override, a colour per layer, weekends shaded and each
  person's public holidays marked, frozen panes, a legend), a "Fairness" sheet (hours,
  nights, weekend days and public holidays on call per person against the team mean,
  counted in each person's own zone), and a "Shifts" sheet listing every shift.
* Calendars (RFC 5545): one .ics per person and one for the team, times in UTC, a UID
  stable across exports (schedule, person and shift start), SEQUENCE from the row's
  version (the layer's for shifts expanded from layers) plus the versions of overrides
  that cut the shift.

Every file is written to a temporary name and renamed into place.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event
from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from app import __version__
from app.models import (
    OnCallSchedule,
    Person,
    Roster,
    RosterShift,
    ScheduleLayer,
    ScheduleOverride,
)
from app.models.base import utcnow
from app.services.io.excel import atomic_output, put, save_workbook
from app.services.oncall import PRIMARY, OnCallIndex

PRODID = f"-//Servicedeck//On-call roster {__version__}//EN"
UID_DOMAIN = "servicedeck"
#: A day, night, weekend day or holiday counts for fairness from this much time on call.
COUNT_MIN_HOURS = 1.0
#: The night, in each person's local time.
NIGHT = (22, 6)
#: Layer colours (light enough for black text), in layer order.
PALETTE = (
    "BDD7EE",
    "C6EFCE",
    "FFE699",
    "F8CBAD",
    "D9C3E9",
    "B4E5E2",
    "F4B6C2",
    "DDEBF7",
)
WEEKEND_FILL = "E7E6E6"
HOLIDAY_FILL = "FCE4D6"
HOLIDAY_FONT = "C00000"
MAX_WEEKS = 104


@dataclass(frozen=True)
class Shift:
    """One person covering one role of a schedule over [start, end)."""

    role: str
    person_id: int
    start: dt.datetime
    end: dt.datetime
    layer_id: int | None
    layer_name: str | None
    code: str
    source: str  # roster, layers or override
    sequence: int = 0
    override_id: int | None = None
    status: str = "CONFIRMED"
    note: str = ""

    @property
    def hours(self) -> float:
        return (self.end - self.start).total_seconds() / 3600


@dataclass(frozen=True)
class LayerInfo:
    id: int
    name: str
    role: str
    code: str
    colour: str
    turn_seconds: int


@dataclass(frozen=True)
class PersonRow:
    id: int
    name: str
    country: str | None
    zone: str


@dataclass(frozen=True)
class RosterPeriod:
    """The shifts of a schedule over a period, with what the exports need beside them."""

    schedule_id: int
    schedule_name: str
    zone: str
    start: dt.datetime
    end: dt.datetime
    days: tuple[dt.date, ...]
    layers: tuple[LayerInfo, ...]
    people: tuple[PersonRow, ...]
    shifts: tuple[Shift, ...]
    source: str  # "roster" (solver rows) or "layers"


@dataclass(frozen=True)
class Fairness:
    person_id: int
    name: str
    hours: float
    nights: int
    weekends: int
    holidays: int


@dataclass(frozen=True)
class ExportSummary:
    schedule: str
    shifts: int
    source: str
    calendars: tuple[Path, ...]
    workbook: Path | None

    def line(self) -> str:
        text = (
            f"{self.shifts} shifts of {self.schedule} (from the "
            f"{'roster' if self.source == 'roster' else 'layers'}) written to "
            f"{len(self.calendars)} calendars in {self.calendars[0].parent}"
            if self.calendars
            else f"{self.shifts} shifts of {self.schedule}"
        )
        if self.workbook is not None:
            text += f" and {self.workbook}"
        return text


# Reading the shifts


def layer_codes(names: Sequence[str]) -> list[str]:
    """Short, distinct codes for layer names: ``Day``/``Night`` -> ``D``/``N``."""
    codes: list[str] = []
    for index, name in enumerate(names):
        letters = re.sub(r"[^0-9A-Za-z]", "", name).upper() or "L"
        for candidate in (letters[:1], letters[:2], letters[:3], f"{letters[:1]}{index + 1}"):
            if candidate not in codes:
                codes.append(candidate)
                break
        else:
            codes.append(f"L{index + 1}")
    return codes


def _local_midnight(day: dt.date, zone: ZoneInfo) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), zone).astimezone(dt.UTC)


def _subtract(shift: Shift, cuts: Sequence[tuple[dt.datetime, dt.datetime, int]]) -> list[Shift]:
    """``shift`` without the override spans ``cuts`` (start, end, override version)."""
    pieces = [(shift.start, shift.end)]
    bump = 0
    for lo, hi, version in cuts:
        if hi <= shift.start or lo >= shift.end:
            continue
        bump += version
        kept = []
        for a, b in pieces:
            if hi <= a or lo >= b:
                kept.append((a, b))
                continue
            if a < lo:
                kept.append((a, lo))
            if hi < b:
                kept.append((hi, b))
        pieces = kept
    if not bump:
        return [shift]
    return [replace(shift, start=a, end=b, sequence=shift.sequence + bump) for a, b in pieces]


def _pick_rosters(rosters: Sequence[Roster], start: dt.date, end: dt.date) -> list[Roster]:
    """Rosters whose weeks overlap [start, end): published first, then newest, each
    claiming its weeks; a roster entirely claimed by better ones is left out."""
    ranked = sorted(rosters, key=lambda r: (r.status != "published", -(r.id or 0)))
    chosen, claimed = [], []
    for roster in ranked:
        lo, hi = roster.starts_on, roster.starts_on + dt.timedelta(weeks=roster.weeks)
        if hi <= start or lo >= end:
            continue
        if any(a <= lo and hi <= b for a, b in claimed):
            continue
        chosen.append(roster)
        claimed.append((lo, hi))
    return chosen


def load_period(
    session: Session, schedule_name: str, first_day: dt.date, weeks: int
) -> RosterPeriod:
    """The shifts of the schedule named ``schedule_name`` over ``weeks`` weeks from
    ``first_day`` (00:00 in the schedule's zone)."""
    if not isinstance(weeks, int) or weeks < 1:
        raise ValueError("--weeks must be 1 or more")
    if weeks > MAX_WEEKS:
        raise ValueError(f"--weeks must be at most {MAX_WEEKS}")
    schedule = session.scalars(
        select(OnCallSchedule)
        .where(OnCallSchedule.name == schedule_name)
        .options(selectinload(OnCallSchedule.layers).selectinload(ScheduleLayer.members))
    ).one_or_none()
    if schedule is None:
        names = session.scalars(select(OnCallSchedule.name).order_by(OnCallSchedule.name)).all()
        known = f" (known: {', '.join(names[:8])}{', ...' if len(names) > 8 else ''})"
        raise ValueError(
            f"there is no on-call schedule named {schedule_name!r}{known if names else ''}"
        )
    zone = ZoneInfo(schedule.timezone or "UTC")
    last_day = first_day + dt.timedelta(weeks=weeks)
    start, end = _local_midnight(first_day, zone), _local_midnight(last_day, zone)
    days = tuple(first_day + dt.timedelta(days=k) for k in range(7 * weeks))

    layers = sorted(schedule.layers, key=lambda layer: (layer.position, layer.id))
    codes = layer_codes([layer.name for layer in layers])
    infos = tuple(
        LayerInfo(
            layer.id, layer.name, layer.role, code, PALETTE[i % len(PALETTE)], layer.turn_seconds
        )
        for i, (layer, code) in enumerate(zip(layers, codes, strict=True))
    )
    by_layer = {info.id: info for info in infos}
    role_code = {}
    for info in infos:
        role_code.setdefault(info.role, info.code)
    versions = {layer.id: layer.version or 1 for layer in layers}

    margin = dt.timedelta(
        seconds=max([layer.turn_seconds for layer in layers] or [0])
    ) + dt.timedelta(days=1)
    overrides = session.scalars(
        select(ScheduleOverride).where(
            ScheduleOverride.schedule_id == schedule.id,
            ScheduleOverride.starts_at < end + margin,
            ScheduleOverride.ends_at > start - margin,
        )
    ).all()

    def code_of(layer_id: int | None, role: str) -> str:
        info = by_layer.get(layer_id)
        return info.code if info else role_code.get(role, role[:1].upper() or "O")

    base: list[Shift] = []
    rosters = _pick_rosters(
        session.scalars(select(Roster).where(Roster.schedule_id == schedule.id)).all(),
        first_day,
        last_day,
    )
    source = "roster" if rosters else "layers"
    if rosters:
        status = {r.id: ("CONFIRMED" if r.status == "published" else "TENTATIVE") for r in rosters}
        rows = session.scalars(
            select(RosterShift)
            .where(
                RosterShift.roster_id.in_([r.id for r in rosters]),
                RosterShift.starts_at < end,
                RosterShift.ends_at > start,
            )
            .order_by(RosterShift.starts_at, RosterShift.id)
        ).all()
        for row in rows:
            info = by_layer.get(row.layer_id)
            role = info.role if info else PRIMARY
            base.append(
                Shift(
                    role,
                    row.person_id,
                    row.starts_at,
                    row.ends_at,
                    row.layer_id,
                    info.name if info else None,
                    code_of(row.layer_id, role),
                    "roster",
                    max(0, (row.version or 1) - 1),
                    status=status[row.roster_id],
                    note=f"Roster shift ({row.source})",
                )
            )
    else:
        for span in OnCallIndex(schedule).spans(start - margin, end + margin):
            base.append(
                Shift(
                    span.role,
                    span.person_id,
                    span.start,
                    span.end,
                    span.layer_id,
                    span.layer_name,
                    code_of(span.layer_id, span.role),
                    "layers",
                    max(0, versions.get(span.layer_id, 1) - 1),
                )
            )

    index = OnCallIndex(schedule, overrides)
    by_override = {o.id: o for o in overrides}
    cuts: dict[str, list[tuple[dt.datetime, dt.datetime, int]]] = defaultdict(list)
    shifts: list[Shift] = []
    for span in index.override_spans(start - margin, end + margin):
        override = by_override[span.override_id]
        cuts[span.role].append((span.start, span.end, override.version or 1))
        shifts.append(
            Shift(
                span.role,
                span.person_id,
                span.start,
                span.end,
                span.layer_id,
                span.layer_name,
                code_of(span.layer_id, span.role),
                "override",
                max(0, (override.version or 1) - 1),
                override_id=override.id,
                note=f"Override: {override.reason}" if override.reason else "Override",
            )
        )
    for shift in base:
        shifts.extend(_subtract(shift, cuts.get(shift.role, ())))
    shifts = [s for s in shifts if s.start < end and s.end > start and s.start < s.end]
    shifts.sort(key=lambda s: (s.start, s.role != PRIMARY, s.role, s.person_id))

    person_ids = {m.person_id for layer in layers for m in layer.members}
    person_ids |= {s.person_id for s in shifts}
    people = []
    for person in session.scalars(
        select(Person).where(Person.id.in_(person_ids)).options(selectinload(Person.country))
    ):
        own = person.timezone if person.timezone and person.timezone != "UTC" else None
        country_zone = person.country.timezone if person.country is not None else None
        people.append(
            PersonRow(
                person.id,
                person.name,
                person.country_code,
                own or country_zone or person.timezone or schedule.timezone or "UTC",
            )
        )
    people.sort(key=lambda p: (p.name.lower(), p.id))
    return RosterPeriod(
        schedule.id,
        schedule.name,
        schedule.timezone or "UTC",
        start,
        end,
        days,
        infos,
        tuple(people),
        tuple(shifts),
        source,
    )


# Fairness


def _holidays(country: str | None, years: Iterable[int]) -> set[dt.date]:
    if not country:
        return set()
    import holidays as holiday_lib

    try:
        return set(holiday_lib.country_holidays(country, years=sorted(set(years))))
    except (NotImplementedError, KeyError, ValueError):
        return set()


def _overlap_hours(
    spans: Sequence[tuple[dt.datetime, dt.datetime]], lo: dt.datetime, hi: dt.datetime
) -> float:
    total = 0.0
    for a, b in spans:
        if b > lo and a < hi:
            total += (min(b, hi) - max(a, lo)).total_seconds()
    return total / 3600


def fairness(period: RosterPeriod) -> list[Fairness]:
    """Per person of the team: hours on call in the period, and the nights (22:00-06:00),
    weekend days and public holidays (of their country) with at least
    :data:`COUNT_MIN_HOURS` on call, in their own time zone."""
    by_person: dict[int, list[tuple[dt.datetime, dt.datetime]]] = defaultdict(list)
    for s in period.shifts:
        by_person[s.person_id].append((max(s.start, period.start), min(s.end, period.end)))
    rows = []
    years = {d.year for d in period.days} | {period.days[-1].year + 1, period.days[0].year - 1}
    for person in period.people:
        spans = by_person.get(person.id, [])
        zone = ZoneInfo(person.zone)
        off_days = _holidays(person.country, years)
        first = period.start.astimezone(zone).date()
        last = (period.end - dt.timedelta(microseconds=1)).astimezone(zone).date()
        nights = weekends = holidays = 0
        day = first - dt.timedelta(days=1)
        while day <= last and spans:
            midnight = _local_midnight(day, zone)
            next_midnight = _local_midnight(day + dt.timedelta(days=1), zone)
            if day >= first:
                on = _overlap_hours(spans, midnight, next_midnight)
                if on >= COUNT_MIN_HOURS:
                    weekends += day.weekday() >= 5
                    holidays += day in off_days
            dusk = (dt.datetime.combine(day, dt.time(NIGHT[0]), zone)).astimezone(dt.UTC)
            dawn = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(NIGHT[1]), zone)
            if _overlap_hours(spans, dusk, dawn.astimezone(dt.UTC)) >= COUNT_MIN_HOURS:
                nights += 1
            day += dt.timedelta(days=1)
        hours = sum((b - a).total_seconds() for a, b in spans) / 3600
        rows.append(Fairness(person.id, person.name, round(hours, 2), nights, weekends, holidays))
    return rows


# The workbook


def _fill(colour: str) -> PatternFill:
    return PatternFill("solid", start_color=colour, end_color=colour)


def build_workbook(period: RosterPeriod) -> Workbook:
    """The roster grid, the fairness summary and the list of shifts."""
    zone = ZoneInfo(period.zone)
    wb = Workbook()
    ws = wb.active
    ws.title = "Roster"
    bold = Font(bold=True)
    thin = Side(style="thin", color="BFBFBF")
    border = Border(left=thin, right=thin, top=thin, bottom=thin)
    colour = {info.id: info.colour for info in period.layers}
    role_colour: dict[str, str] = {}
    for info in period.layers:
        role_colour.setdefault(info.role, info.colour)

    put(ws.cell(1, 1), f"{period.schedule_name}: on call {period.days[0]} to {period.days[-1]}")
    ws.cell(1, 1).font = Font(bold=True, size=13)
    put(ws.cell(1, 4), f"Days in {period.zone}; source: {period.source}")
    put(ws.cell(2, 1), "Person")
    put(ws.cell(2, 2), "Country")
    day_column = {}
    for k, day in enumerate(period.days):
        column = 3 + k
        day_column[day] = column
        cell = put(ws.cell(2, column), day)
        cell.number_format = "ddd d mmm"
        cell.alignment = Alignment(text_rotation=90, horizontal="center")
        cell.font = bold
        if day.weekday() >= 5:
            cell.fill = _fill(WEEKEND_FILL)
        ws.column_dimensions[get_column_letter(column)].width = 5.5
    ws.cell(2, 1).font = ws.cell(2, 2).font = bold
    ws.row_dimensions[2].height = 62
    ws.column_dimensions["A"].width = (
        max([len(p.name) for p in period.people] + [len("Person")]) + 3
    )
    ws.column_dimensions["B"].width = 9

    cells: dict[tuple[int, dt.date], list[Shift]] = defaultdict(list)
    for shift in period.shifts:
        day = shift.start.astimezone(zone).date()
        last = (shift.end - dt.timedelta(microseconds=1)).astimezone(zone).date()
        while day <= last:
            if day in day_column:
                cells[(shift.person_id, day)].append(shift)
            day += dt.timedelta(days=1)
    years = {d.year for d in period.days}
    row = 3
    for person in period.people:
        put(ws.cell(row, 1), person.name)
        put(ws.cell(row, 2), person.country or "")
        off_days = _holidays(person.country, years)
        for day, column in day_column.items():
            cell = ws.cell(row, column)
            cell.border = border
            cell.alignment = Alignment(horizontal="center")
            found = cells.get((person.id, day), [])
            if found:
                codes = []
                for s in found:
                    code = s.code + ("*" if s.override_id is not None else "")
                    if code not in codes:
                        codes.append(code)
                put(cell, "/".join(codes))
                first = found[0]
                cell.fill = _fill(
                    colour.get(first.layer_id) or role_colour.get(first.role, "FFFFFF")
                )
                if day in off_days:
                    cell.font = Font(bold=True, color=HOLIDAY_FONT)
            elif day in off_days:
                cell.fill = _fill(HOLIDAY_FILL)
            elif day.weekday() >= 5:
                cell.fill = _fill(WEEKEND_FILL)
        row += 1
    last_row = row - 1
    last_column = get_column_letter(2 + len(period.days))
    ws.freeze_panes = "C3"
    if last_row >= 3:
        ws.auto_filter.ref = f"A2:{last_column}{last_row}"

    row = last_row + 2
    put(ws.cell(row, 1), "Legend").font = bold
    for info in period.layers:
        row += 1
        cell = put(ws.cell(row, 1), info.code)
        cell.fill = _fill(info.colour)
        cell.alignment = Alignment(horizontal="center")
        put(ws.cell(row, 2), f"{info.name} ({info.role}), turns of {_turn(info.turn_seconds)}")
    for sample, text, fill in (
        ("", "Weekend", WEEKEND_FILL),
        ("", "Public holiday in the person's country (bold red: on call that day)", HOLIDAY_FILL),
        ("X*", "Override: someone covering instead of the layer's person", None),
    ):
        row += 1
        cell = put(ws.cell(row, 1), sample)
        if fill:
            cell.fill = _fill(fill)
        put(ws.cell(row, 2), text)

    _fairness_sheet(wb.create_sheet("Fairness"), period)
    _shift_sheet(wb.create_sheet("Shifts"), period, zone)
    return wb


def _turn(seconds: int) -> str:
    if seconds % 86400 == 0:
        days = seconds // 86400
        return "a week" if days == 7 else f"{days} day{'s' if days != 1 else ''}"
    return f"{seconds / 3600:g} hours"


def _header(ws, titles: Sequence[str], widths: Sequence[float]) -> None:
    for column, (title, width) in enumerate(zip(titles, widths, strict=True), 1):
        put(ws.cell(1, column), title).font = Font(bold=True)
        ws.column_dimensions[get_column_letter(column)].width = width
    ws.freeze_panes = "A2"


def _fairness_sheet(ws, period: RosterPeriod) -> None:
    titles = [
        "Person", "Country", "Hours", "Hours vs mean", "Nights", "Nights vs mean",
        "Weekend days", "Weekend days vs mean", "Holidays", "Holidays vs mean",
    ]  # fmt: skip
    _header(ws, titles, [24, 9, 9, 14, 9, 15, 14, 20, 10, 17])
    rows = fairness(period)
    country = {p.id: p.country for p in period.people}
    n = len(rows) or 1
    means = [
        sum(r.hours for r in rows) / n,
        sum(r.nights for r in rows) / n,
        sum(r.weekends for r in rows) / n,
        sum(r.holidays for r in rows) / n,
    ]
    over = _fill("F8CBAD")
    for i, r in enumerate(rows, 2):
        put(ws.cell(i, 1), r.name)
        put(ws.cell(i, 2), country.get(r.person_id) or "")
        for k, value in enumerate((r.hours, r.nights, r.weekends, r.holidays)):
            put(ws.cell(i, 3 + 2 * k), value).number_format = "0.0" if k == 0 else "0"
            delta = ws.cell(i, 4 + 2 * k, round(value - means[k], 2))
            delta.number_format = "+0.0;-0.0;0.0"
            if means[k] and value > 1.2 * means[k]:
                delta.fill = over
    total = len(rows) + 2
    put(ws.cell(total, 1), "Team mean").font = Font(bold=True)
    for k, mean in enumerate(means):
        ws.cell(total, 3 + 2 * k, round(mean, 2)).number_format = "0.0"
    if rows:
        ws.auto_filter.ref = f"A1:J{len(rows) + 1}"
    put(
        ws.cell(total + 2, 1),
        f"Nights: {NIGHT[0]:02d}:00-{NIGHT[1]:02d}:00, weekends and public holidays in each "
        f"person's own time zone, counted from {COUNT_MIN_HOURS:g} hour on call; shaded: more "
        "than 20% above the mean.",
    )


def _shift_sheet(ws, period: RosterPeriod, zone: ZoneInfo) -> None:
    titles = ["Person", "Role", "Layer", "Code", "Start", "End", "Hours", "Source", "Note"]
    _header(ws, titles, [24, 11, 16, 7, 17, 17, 8, 10, 40])
    name = {p.id: p.name for p in period.people}
    for i, s in enumerate(period.shifts, 2):
        for column, value in enumerate(
            (
                name.get(s.person_id, str(s.person_id)),
                s.role,
                s.layer_name or "",
                s.code + ("*" if s.override_id is not None else ""),
                s.start,
                s.end,
                round(s.hours, 2),
                s.source,
                s.note,
            ),
            1,
        ):
            put(ws.cell(i, column), value, zone)
    if period.shifts:
        ws.auto_filter.ref = f"A1:I{len(period.shifts) + 1}"
    put(ws.cell(1, 11), f"Times in {period.zone}")


def export_xlsx(period: RosterPeriod, path: str | os.PathLike[str]) -> Path:
    """Write the workbook to ``path`` atomically."""
    save_workbook(build_workbook(period), path)
    return Path(path)


# Calendars


def shift_uid(schedule_id: int, shift: Shift, suffix: str = "") -> str:
    """Stable across exports: the schedule, the person and the shift's start."""
    start = shift.start.astimezone(dt.UTC)
    return f"oncall-{schedule_id}-{shift.person_id}-{start:%Y%m%dT%H%M%SZ}{suffix}@{UID_DOMAIN}"


def _utc(value: dt.datetime) -> dt.datetime:
    return value.astimezone(dt.UTC).replace(microsecond=0)


def _calendar(title: str) -> Calendar:
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", title)
    calendar.add("x-wr-timezone", "UTC")
    return calendar


def _uids(period: RosterPeriod) -> dict[int, str]:
    seen: set[str] = set()
    uids = {}
    for k, shift in enumerate(period.shifts):
        uid = shift_uid(period.schedule_id, shift)
        if uid in seen:  # the same person starting two roles at once
            uid = shift_uid(period.schedule_id, shift, f"-{shift.role}")
        seen.add(uid)
        uids[k] = uid
    return uids


def build_calendars(
    period: RosterPeriod, now: dt.datetime | None = None
) -> tuple[dict[int, Calendar], Calendar]:
    """One calendar per person of the team (empty if they have no shift) and the team's."""
    stamp = _utc(now or utcnow())
    name = {p.id: p.name for p in period.people}
    people = {p.id: _calendar(f"{p.name}: {period.schedule_name}") for p in period.people}
    team = _calendar(f"{period.schedule_name}: on call")
    for k, uid in _uids(period).items():
        s = period.shifts[k]
        what = s.role.title() + (f" ({s.layer_name})" if s.layer_name else "")
        for calendar, summary in (
            (people.get(s.person_id), f"On call: {period.schedule_name} {what}"),
            (team, f"{name.get(s.person_id, s.person_id)}: {what}"),
        ):
            if calendar is None:
                continue
            event = Event()
            event.add("uid", uid)
            event.add("dtstamp", stamp)
            event.add("dtstart", _utc(s.start))
            event.add("dtend", _utc(s.end))
            event.add("summary", summary)
            lines = [
                f"Schedule: {period.schedule_name}",
                f"Person: {name.get(s.person_id, s.person_id)}",
                f"Role: {s.role}",
            ]
            if s.layer_name:
                lines.append(f"Layer: {s.layer_name} ({s.code})")
            if s.note:
                lines.append(s.note)
            event.add("description", "\n".join(lines))
            event.add("categories", ["On call", s.role.title()])
            event.add("status", s.status)
            event.add("sequence", s.sequence)
            event.add("transp", "OPAQUE")
            calendar.add_component(event)
    return people, team


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "x"


def calendar_names(period: RosterPeriod) -> tuple[dict[int, str], str]:
    """The file names: ``<person>-<id>.ics`` and ``<schedule>-team.ics``."""
    return (
        {p.id: f"{_slug(p.name)}-{p.id}.ics" for p in period.people},
        f"{_slug(period.schedule_name)}-team.ics",
    )


def export_ics(
    period: RosterPeriod, directory: str | os.PathLike[str], now: dt.datetime | None = None
) -> list[Path]:
    """Write the team's and each person's calendar into ``directory`` (made if missing)."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    people, team = build_calendars(period, now)
    names, team_name = calendar_names(period)
    written = []
    for person_id, calendar in [*people.items(), (None, team)]:
        path = folder / (team_name if person_id is None else names[person_id])
        data = calendar.to_ical()
        with atomic_output(path) as temporary:
            temporary.write_bytes(data)
        written.append(path)
    return written


def export_roster(
    session: Session,
    schedule_name: str,
    first_day: dt.date,
    weeks: int,
    ics_dir: str | os.PathLike[str] | None,
    xlsx: str | os.PathLike[str] | None = None,
    *,
    now: dt.datetime | None = None,
) -> ExportSummary:
    """Export the roster of a schedule: calendars into ``ics_dir``, the workbook to ``xlsx``."""
    period = load_period(session, schedule_name, first_day, weeks)
    calendars = tuple(export_ics(period, ics_dir, now)) if ics_dir is not None else ()
    workbook = export_xlsx(period, xlsx) if xlsx is not None else None
    return ExportSummary(
        period.schedule_name, len(period.shifts), period.source, calendars, workbook
    )


__all__ = [
    "ExportSummary",
    "Fairness",
    "RosterPeriod",
    "Shift",
    "build_calendars",
    "build_workbook",
    "calendar_names",
    "export_ics",
    "export_roster",
    "export_xlsx",
    "fairness",
    "layer_codes",
    "load_period",
    "shift_uid",
]
