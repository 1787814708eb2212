"""Who is on call at an instant: layer rotations, restrictions, layer order and overrides.

The rules (PagerDuty's, with the fix for its restriction pitfall):

* A layer rotates its members (ordered by ``position``) from ``rotation_start``, one turn
  every ``turn_seconds``: the person on turn is ``elapsed // turn_seconds`` modulo the
  number of members. Elapsed time is counted on the schedule's wall clock, so a 09:00
  handoff stays at 09:00 local time across daylight-saving changes.
* Restrictions (``{"days": [0..6], "start": "HH:MM", "end": "HH:MM"}`` in the schedule's
  zone; ``days`` are the weekdays a span starts on, 0 = Monday; an ``end`` at or before
  ``start`` runs past midnight) only blank hours out: outside them the layer has nobody,
  and the rotation does not pause, so nobody's turn is skipped or delayed.
* Layers of the same role compete; where a later layer (higher ``position``) has someone,
  it wins over earlier layers.
* An override wins over every layer of its layer's role; an override with no layer
  covers the primary role. Among overlapping overrides the latest-starting one wins.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from app.models import OnCallSchedule, ScheduleLayer, ScheduleOverride

PRIMARY = "primary"
_ROLE_ORDER = {PRIMARY: 0, "secondary": 1}


@dataclass(frozen=True)
class OnCall:
    """Who covers one role of a schedule at an instant (``person_id`` None: a coverage gap)."""

    role: str
    person_id: int | None
    layer_id: int | None = None
    layer_name: str | None = None
    override_id: int | None = None
    #: The published roster's shift behind it (None: the layer's rotation or an override).
    shift_id: int | None = None

    @property
    def is_gap(self) -> bool:
        return self.person_id is None


def _minutes(text: str) -> int:
    hours, _, minutes = text.partition(":")
    value = int(hours) * 60 + int(minutes or 0)
    if not 0 <= value <= 24 * 60:
        raise ValueError(f"{text!r} is not a time of day")
    return value


def in_restriction(restriction: dict[str, Any], local: dt.datetime) -> bool:
    """Whether the local (naive or aware) time ``local`` falls inside one restriction span."""
    days = restriction.get("days") or range(7)
    start = _minutes(restriction.get("start", "00:00"))
    end = _minutes(restriction.get("end", "24:00"))
    now = local.hour * 60 + local.minute
    weekday = local.weekday()
    if start < end:
        return weekday in days and start <= now < end
    # The span crosses midnight: its evening part is on a listed day, its morning on the next.
    return (weekday in days and now >= start) or ((weekday - 1) % 7 in days and now < end)


def _wall_seconds(earlier: dt.datetime, later: dt.datetime, zone: ZoneInfo) -> float:
    a = earlier.astimezone(zone).replace(tzinfo=None)
    b = later.astimezone(zone).replace(tzinfo=None)
    return (b - a).total_seconds()


def layer_on_call(layer: ScheduleLayer, at: dt.datetime, zone: ZoneInfo) -> int | None:
    """The person id on turn in ``layer`` at ``at``, or None (inactive, restricted, empty)."""
    if at < layer.rotation_start or (layer.ends_at is not None and at >= layer.ends_at):
        return None
    members = sorted(layer.members, key=lambda m: m.position)
    if not members:
        return None
    if layer.restrictions:
        local = at.astimezone(zone)
        if not any(in_restriction(r, local) for r in layer.restrictions):
            return None
    turn = int(_wall_seconds(layer.rotation_start, at, zone) // layer.turn_seconds)
    return members[turn % len(members)].person_id


def _active_layer(layer: ScheduleLayer, at: dt.datetime) -> bool:
    return at >= layer.rotation_start and (layer.ends_at is None or at < layer.ends_at)


def _role_order(role: str) -> tuple[int, str]:
    return (_ROLE_ORDER.get(role, len(_ROLE_ORDER)), role)


@dataclass(frozen=True)
class RosterCover:
    """A shift of a published roster: its person covers the layer for that time.

    Shifts sit between the layers' rotations and the overrides: within a published
    roster's shift the roster decides, and an override still wins over it.
    """

    id: int
    schedule_id: int
    layer_id: int | None
    person_id: int
    starts_at: dt.datetime
    ends_at: dt.datetime


def published_shifts(
    session: Any,
    schedule_ids: Iterable[int] | None = None,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
) -> dict[int, list[RosterCover]]:
    """The shifts of every published roster (overlapping [start, end) when given), per
    schedule id."""
    from sqlalchemy import select

    from app.models import Roster, RosterShift

    stmt = (
        select(RosterShift, Roster.schedule_id)
        .join(Roster, Roster.id == RosterShift.roster_id)
        .where(Roster.status == "published")
    )
    if schedule_ids is not None:
        stmt = stmt.where(Roster.schedule_id.in_(list(schedule_ids)))
    if start is not None:
        stmt = stmt.where(RosterShift.ends_at > start)
    if end is not None:
        stmt = stmt.where(RosterShift.starts_at < end)
    out: dict[int, list[RosterCover]] = {}
    for shift, schedule_id in session.execute(stmt):
        out.setdefault(schedule_id, []).append(
            RosterCover(
                shift.id, schedule_id, shift.layer_id, shift.person_id,
                _aware(shift.starts_at), _aware(shift.ends_at),
            )
        )  # fmt: skip
    return out


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def _latest(covers: Iterable[Any], at: dt.datetime, schedule_id: int, by_id: dict, into: dict):
    """Per role, the cover (override or roster shift) in force at ``at`` that started last."""
    for cover in covers:
        if cover.schedule_id != schedule_id or not cover.starts_at <= at < cover.ends_at:
            continue
        layer = by_id.get(cover.layer_id)
        role = layer.role if layer is not None else PRIMARY
        best = into.get(role)
        if best is None or (cover.starts_at, cover.id or 0) > (best.starts_at, best.id or 0):
            into[role] = cover


def who_is_on_call(
    schedule: OnCallSchedule,
    at: dt.datetime,
    overrides: Iterable[ScheduleOverride] = (),
    roster: Iterable[RosterCover] = (),
) -> list[OnCall]:
    """Who is on call for each role of ``schedule`` at ``at``, primary first.

    ``overrides`` may hold any overrides; those of other schedules or other times are
    ignored. ``roster`` holds published roster shifts (see :func:`published_shifts`):
    they win over the layers' rotations, overrides win over them. A role whose required
    layers leave nobody on call is returned as a gap.
    """
    zone = ZoneInfo(schedule.timezone or "UTC")
    layers: Sequence[ScheduleLayer] = sorted(
        schedule.layers, key=lambda layer: (layer.position, layer.id or 0)
    )
    by_id = {layer.id: layer for layer in layers}
    roles = sorted({layer.role for layer in layers}, key=_role_order)

    covering: dict[str, ScheduleOverride] = {}
    _latest(overrides, at, schedule.id, by_id, covering)
    rostered: dict[str, RosterCover] = {}
    _latest(roster, at, schedule.id, by_id, rostered)
    for role in (*covering, *rostered):
        if role not in roles:
            roles.append(role)
    roles.sort(key=_role_order)

    result: list[OnCall] = []
    for role in roles:
        override = covering.get(role)
        if override is not None:
            layer = by_id.get(override.layer_id)
            result.append(
                OnCall(
                    role,
                    override.person_id,
                    layer.id if layer else None,
                    layer.name if layer else None,
                    override.id,
                )
            )
            continue
        shift = rostered.get(role)
        if shift is not None:
            layer = by_id.get(shift.layer_id)
            result.append(
                OnCall(
                    role,
                    shift.person_id,
                    layer.id if layer else None,
                    layer.name if layer else None,
                    shift_id=shift.id,
                )
            )
            continue
        candidates = [layer for layer in layers if layer.role == role]
        for layer in reversed(candidates):
            person = layer_on_call(layer, at, zone)
            if person is not None:
                result.append(OnCall(role, person, layer.id, layer.name))
                break
        else:
            if any(layer.required and _active_layer(layer, at) for layer in candidates):
                result.append(OnCall(role, None))
    return result


# The index: every layer's rotation and restrictions precomputed once per schedule.

#: Minutes in a week; restriction masks hold one entry per minute of the week.
WEEK_MINUTES = 7 * 24 * 60
#: Step used to find the zone's UTC offset changes (bisected to the second).
_OFFSET_STEP = dt.timedelta(hours=3)
_UTC = dt.UTC


@dataclass(frozen=True)
class OnCallSpan:
    """One role of a schedule covered by one person over ``[start, end)``.

    A span never crosses a turn of its layer (each turn is one shift), nor the start or end
    of an override; ``turn`` is the layer's turn number (None for an override).
    """

    role: str
    person_id: int
    start: dt.datetime
    end: dt.datetime
    layer_id: int | None = None
    layer_name: str | None = None
    override_id: int | None = None
    turn: int | None = None

    @property
    def hours(self) -> float:
        return (self.end - self.start).total_seconds() / 3600


@dataclass(frozen=True)
class Gap:
    """An interval with nobody on call for a role that has required layers, and why."""

    role: str
    start: dt.datetime
    end: dt.datetime
    reason: str


def restriction_mask(restrictions: Sequence[dict[str, Any]]) -> bytearray | None:
    """One byte per minute of the week (0 = Monday 00:00): 1 where any span allows the
    layer, exactly as :func:`in_restriction` reads each span. None: not restricted."""
    if not restrictions:
        return None
    mask = bytearray(WEEK_MINUTES)
    for restriction in restrictions:
        listed = restriction.get("days") or range(7)
        days = [d for d in range(7) if d in listed]
        start = _minutes(restriction.get("start", "00:00"))
        end = _minutes(restriction.get("end", "24:00"))
        for day in days:
            base = day * 1440
            if start < end:
                mask[base + start : base + end] = b"\x01" * (end - start)
            else:
                if start < 1440:
                    mask[base + start : base + 1440] = b"\x01" * (1440 - start)
                following = ((day + 1) % 7) * 1440
                mask[following : following + end] = b"\x01" * end
    return mask


def mask_edges(mask: bytearray) -> list[int]:
    """The minutes of the week where the mask changes value (cyclically)."""
    return [m for m in range(WEEK_MINUTES) if mask[m] != mask[m - 1]]


def offset_changes(zone: ZoneInfo, start: dt.datetime, end: dt.datetime) -> list[dt.datetime]:
    """The instants in (start, end) where ``zone``'s UTC offset changes, to the second."""
    found = []
    at = start
    offset = at.astimezone(zone).utcoffset()
    while at < end:
        nxt = min(at + _OFFSET_STEP, end)
        new = nxt.astimezone(zone).utcoffset()
        if new != offset:
            lo, hi = at, nxt  # offset(lo) == offset, offset(hi) == new
            while hi - lo > dt.timedelta(seconds=1):
                mid = lo + (hi - lo) / 2
                mid = mid.replace(microsecond=0)
                if mid <= lo:
                    break
                if mid.astimezone(zone).utcoffset() == offset:
                    lo = mid
                else:
                    hi = mid
            if start < hi < end:
                found.append(hi)
            offset = new
        at = nxt
    return found


class _Layer:
    """A layer's fixed facts, ready for fast lookups."""

    __slots__ = (
        "ends_at",
        "id",
        "mask",
        "edges",
        "members",
        "name",
        "required",
        "restrictions",
        "role",
        "start",
        "start_local",
        "turn_seconds",
    )

    def __init__(self, layer: ScheduleLayer, zone: ZoneInfo) -> None:
        self.id = layer.id
        self.name = layer.name
        self.role = layer.role
        self.required = bool(layer.required)
        self.start = layer.rotation_start
        self.ends_at = layer.ends_at
        self.start_local = layer.rotation_start.astimezone(zone).replace(tzinfo=None)
        self.turn_seconds = layer.turn_seconds
        self.members = tuple(m.person_id for m in sorted(layer.members, key=lambda m: m.position))
        self.restrictions = list(layer.restrictions or [])
        self.mask = restriction_mask(self.restrictions)
        self.edges = mask_edges(self.mask) if self.mask is not None else []

    def active(self, at: dt.datetime) -> bool:
        return at >= self.start and (self.ends_at is None or at < self.ends_at)

    def why_nobody(self, at: dt.datetime) -> str:
        if at < self.start:
            return f"{self.name} starts {self.start:%Y-%m-%d %H:%M} UTC"
        if self.ends_at is not None and at >= self.ends_at:
            return f"{self.name} ended {self.ends_at:%Y-%m-%d %H:%M} UTC"
        if not self.members:
            return f"{self.name} has no members"
        return f"{self.name} is outside its hours ({describe_restrictions(self.restrictions)})"


_DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def describe_restrictions(restrictions: Sequence[dict[str, Any]]) -> str:
    """``Mon-Fri 09:00-17:00; Sat 10:00-14:00`` for a layer's restriction spans."""
    parts = []
    for r in restrictions:
        listed = r.get("days") or range(7)
        days = [d for d in range(7) if d in listed]
        parts.append(f"{_describe_days(days)} {r.get('start', '00:00')}-{r.get('end', '24:00')}")
    return "; ".join(parts) or "any time"


def _describe_days(days: Sequence[int]) -> str:
    if len(days) == 7:
        return "every day"
    runs: list[list[int]] = []
    for d in days:
        if runs and d == runs[-1][-1] + 1:
            runs[-1].append(d)
        else:
            runs.append([d])
    return ", ".join(
        _DAY_NAMES[r[0]] if len(r) == 1 else f"{_DAY_NAMES[r[0]]}-{_DAY_NAMES[r[-1]]}" for r in runs
    )


class _Overrides:
    """The winning override of one role over time: elementary segments and a bisect."""

    __slots__ = ("bounds", "winners")

    def __init__(self, overrides: Sequence[ScheduleOverride]) -> None:
        import heapq

        points = sorted({o.starts_at for o in overrides} | {o.ends_at for o in overrides})
        by_start = sorted(overrides, key=lambda o: o.starts_at)
        heap: list[tuple[tuple[float, int], int, ScheduleOverride]] = []
        self.bounds: list[dt.datetime] = points
        self.winners: list[ScheduleOverride | None] = []
        k = 0
        for point in points:
            while k < len(by_start) and by_start[k].starts_at <= point:
                o = by_start[k]
                # The latest start (then the highest id) on top of a min-heap.
                heapq.heappush(heap, (_neg_key(o), k, o))
                k += 1
            while heap and heap[0][2].ends_at <= point:
                heapq.heappop(heap)
            self.winners.append(heap[0][2] if heap else None)

    def at(self, at: dt.datetime) -> ScheduleOverride | None:
        from bisect import bisect_right

        index = bisect_right(self.bounds, at) - 1
        return self.winners[index] if index >= 0 else None


def _neg_key(o: ScheduleOverride) -> tuple[float, int]:
    return (-o.starts_at.timestamp(), -(o.id or 0))


class OnCallIndex:
    """Who is on call at any instant of one schedule, answered in microseconds.

    Built once per schedule (and its overrides): layer rotations are kept as their local
    start and turn length, restrictions as one flag per minute of the week, and overrides
    as elementary segments with their winner, so a lookup is a zone conversion, a few
    integer divisions and a bisect. :meth:`at` answers exactly as :func:`who_is_on_call`.
    """

    def __init__(
        self,
        schedule: OnCallSchedule,
        overrides: Iterable[ScheduleOverride] = (),
        roster: Iterable[RosterCover] = (),
    ) -> None:
        self.schedule_id = schedule.id
        self.zone = ZoneInfo(schedule.timezone or "UTC")
        layers = sorted(schedule.layers, key=lambda layer: (layer.position, layer.id or 0))
        self.layers = [_Layer(layer, self.zone) for layer in layers]
        by_id = {layer.id: layer for layer in self.layers}
        self._by_id = by_id
        per_role: dict[str, list[ScheduleOverride]] = {}
        self.overrides: list[ScheduleOverride] = []
        for override in overrides:
            if override.schedule_id != schedule.id:
                continue
            layer = by_id.get(override.layer_id)
            role = layer.role if layer is not None else PRIMARY
            per_role.setdefault(role, []).append(override)
            self.overrides.append(override)
        shifts_per_role: dict[str, list[RosterCover]] = {}
        self.roster: list[RosterCover] = []
        for shift in roster:
            if shift.schedule_id != schedule.id:
                continue
            layer = by_id.get(shift.layer_id)
            role = layer.role if layer is not None else PRIMARY
            shifts_per_role.setdefault(role, []).append(shift)
            self.roster.append(shift)
        self._roster = {role: _Overrides(found) for role, found in shifts_per_role.items()}
        roles = {layer.role for layer in self.layers} | set(per_role) | set(shifts_per_role)
        self.roles = sorted(roles, key=_role_order)
        #: Per role: its layers, latest first (the first with someone wins).
        self._candidates = {
            role: [layer for layer in reversed(self.layers) if layer.role == role]
            for role in self.roles
        }
        self._overrides = {role: _Overrides(found) for role, found in per_role.items()}

    @classmethod
    def load(cls, session: Any, schedule_id: int) -> OnCallIndex:
        """The index of a stored schedule with all its overrides."""
        from sqlalchemy import select
        from sqlalchemy.orm import selectinload

        schedule = session.scalars(
            select(OnCallSchedule)
            .where(OnCallSchedule.id == schedule_id)
            .options(selectinload(OnCallSchedule.layers).selectinload(ScheduleLayer.members))
        ).one_or_none()
        if schedule is None:
            raise ValueError(f"there is no on-call schedule with id {schedule_id}")
        overrides = session.scalars(
            select(ScheduleOverride).where(ScheduleOverride.schedule_id == schedule_id)
        ).all()
        roster = published_shifts(session, [schedule_id]).get(schedule_id, [])
        return cls(schedule, overrides, roster)

    # Lookups

    def _layer_turn(self, layer: _Layer, at: dt.datetime, local: dt.datetime, minute: int):
        if at < layer.start or (layer.ends_at is not None and at >= layer.ends_at):
            return None
        if not layer.members:
            return None
        if layer.mask is not None and not layer.mask[minute]:
            return None
        return int((local - layer.start_local).total_seconds() // layer.turn_seconds)

    def _placed(self, role: str, placed: Any, **source: int | None) -> OnCall:
        """Who an override or a published shift puts on call, with its layer if it has one."""
        layer = self._by_id.get(placed.layer_id)
        return OnCall(
            role,
            placed.person_id,
            layer.id if layer else None,
            layer.name if layer else None,
            **source,
        )

    def _resolve(self, at: dt.datetime) -> list[tuple[OnCall, int | None]]:
        local = at.astimezone(self.zone).replace(tzinfo=None)
        minute = local.weekday() * 1440 + local.hour * 60 + local.minute
        result: list[tuple[OnCall, int | None]] = []
        for role in self.roles:
            winners = self._overrides.get(role)
            override = winners.at(at) if winners is not None else None
            if override is not None:
                result.append((self._placed(role, override, override_id=override.id), None))
                continue
            shifts = self._roster.get(role)
            shift = shifts.at(at) if shifts is not None else None
            if shift is not None:
                result.append((self._placed(role, shift, shift_id=shift.id), None))
                continue
            candidates = self._candidates[role]
            for layer in candidates:
                turn = self._layer_turn(layer, at, local, minute)
                if turn is not None:
                    person = layer.members[turn % len(layer.members)]
                    result.append((OnCall(role, person, layer.id, layer.name), turn))
                    break
            else:
                if any(layer.required and layer.active(at) for layer in candidates):
                    result.append((OnCall(role, None), None))
        return result

    def at(self, at: dt.datetime) -> list[OnCall]:
        """Who is on call for each role at ``at``, primary first (as :func:`who_is_on_call`)."""
        return [found for found, _ in self._resolve(at)]

    def person(self, at: dt.datetime, role: str = PRIMARY) -> int | None:
        """The person on call for ``role`` at ``at``, or None."""
        for found, _ in self._resolve(at):
            if found.role == role:
                return found.person_id
        return None

    # Intervals

    def breakpoints(self, start: dt.datetime, end: dt.datetime) -> list[dt.datetime]:
        """Every instant in [start, end) where the answer of :meth:`at` may change, sorted,
        starting with ``start``."""
        points = {start}
        for layer in self.layers:
            for value in (layer.start, layer.ends_at):
                if value is not None and start < value < end:
                    points.add(value)
        for cover in (*self.overrides, *self.roster):
            for value in (cover.starts_at, cover.ends_at):
                if start < value < end:
                    points.add(value)
        changes = offset_changes(self.zone, start, end)
        points.update(changes)
        edges = [start, *changes, end]
        for lo, hi in zip(edges, edges[1:], strict=False):
            offset = lo.astimezone(self.zone).utcoffset() or dt.timedelta()
            local_lo = (lo + offset).replace(tzinfo=None)
            local_hi = (hi + offset).replace(tzinfo=None)
            for local in self._local_points(local_lo, local_hi):
                points.add((local - offset).replace(tzinfo=_UTC))
        return sorted(p for p in points if start <= p < end)

    def _local_points(self, lo: dt.datetime, hi: dt.datetime) -> Iterable[dt.datetime]:
        """Wall-clock instants in (lo, hi) where a turn begins or a restriction opens or
        closes."""
        week_start = dt.datetime.combine(lo.date() - dt.timedelta(days=lo.weekday()), dt.time())
        for layer in self.layers:
            if not layer.members:
                continue
            turn = dt.timedelta(seconds=layer.turn_seconds)
            first = math.ceil((lo - layer.start_local).total_seconds() / layer.turn_seconds)
            at = layer.start_local + first * turn
            while at < hi:
                yield at
                at += turn
            if layer.edges:
                week = week_start
                while week < hi:
                    for minute in layer.edges:
                        at = week + dt.timedelta(minutes=minute)
                        if lo < at < hi:
                            yield at
                    week += dt.timedelta(days=7)

    def _segments(self, start: dt.datetime, end: dt.datetime):
        points = self.breakpoints(start, end)
        for lo, hi in zip(points, [*points[1:], end], strict=False):
            if lo < hi:
                yield lo, hi, self._resolve(lo)

    def spans(self, start: dt.datetime, end: dt.datetime) -> list[OnCallSpan]:
        """Who covers each role over [start, end): one span per person, layer turn and
        override, in time order (gaps left out; see :meth:`gaps`)."""
        open_spans: dict[str, OnCallSpan] = {}
        spans: list[OnCallSpan] = []
        for lo, hi, found in self._segments(start, end):
            present = set()
            for call, turn in found:
                if call.person_id is None:
                    continue
                present.add(call.role)
                current = open_spans.get(call.role)
                if (
                    current is not None
                    and current.end == lo
                    and (current.person_id, current.layer_id, current.override_id, current.turn)
                    == (call.person_id, call.layer_id, call.override_id, turn)
                ):
                    open_spans[call.role] = OnCallSpan(
                        current.role,
                        current.person_id,
                        current.start,
                        hi,
                        current.layer_id,
                        current.layer_name,
                        current.override_id,
                        current.turn,
                    )
                    continue
                if current is not None:
                    spans.append(current)
                open_spans[call.role] = OnCallSpan(
                    call.role,
                    call.person_id,
                    lo,
                    hi,
                    call.layer_id,
                    call.layer_name,
                    call.override_id,
                    turn,
                )
            for role in list(open_spans):
                if role not in present:
                    spans.append(open_spans.pop(role))
        spans.extend(open_spans.values())
        spans.sort(key=lambda s: (s.start, _role_order(s.role), s.person_id))
        return spans

    def override_spans(self, start: dt.datetime, end: dt.datetime) -> list[OnCallSpan]:
        """Where an override wins over [start, end): one span per role and winning override
        (an override cut by a later-starting one gives two spans)."""
        spans: list[OnCallSpan] = []
        for role, table in self._overrides.items():
            bounds = table.bounds
            for i, winner in enumerate(table.winners):
                if winner is None or i + 1 >= len(bounds):
                    continue
                lo, hi = max(bounds[i], start), min(bounds[i + 1], end)
                if lo >= hi:
                    continue
                last = spans[-1] if spans else None
                if last and last.role == role and last.override_id == winner.id and last.end == lo:
                    spans[-1] = OnCallSpan(
                        role, last.person_id, last.start, hi, last.layer_id, last.layer_name,
                        last.override_id,
                    )  # fmt: skip
                    continue
                layer = self._by_id.get(winner.layer_id)
                spans.append(
                    OnCallSpan(
                        role,
                        winner.person_id,
                        lo,
                        hi,
                        layer.id if layer else None,
                        layer.name if layer else None,
                        winner.id,
                    )
                )
        spans.sort(key=lambda s: (s.start, _role_order(s.role), s.person_id))
        return spans

    def gaps(self, start: dt.datetime, end: dt.datetime) -> list[Gap]:
        """Intervals of [start, end) with nobody on call for a role that has required
        layers, with the reason (why each of its layers has nobody)."""
        required = [role for role in self.roles if any(
            layer.required for layer in self._candidates[role])]  # fmt: skip
        gaps: list[Gap] = []
        last: dict[str, int] = {}
        for lo, hi, found in self._segments(start, end):
            covered = {call.role for call, _ in found if call.person_id is not None}
            for role in required:
                if role in covered:
                    continue
                reasons = [layer.why_nobody(lo) for layer in reversed(self._candidates[role])]
                reason = f"nobody on call for {role}: " + "; ".join(reasons)
                index = last.get(role)
                previous = gaps[index] if index is not None else None
                if previous is not None and previous.end == lo and previous.reason == reason:
                    gaps[index] = Gap(role, previous.start, hi, reason)
                else:
                    last[role] = len(gaps)
                    gaps.append(Gap(role, lo, hi, reason))
        return gaps
