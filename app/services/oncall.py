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


def who_is_on_call(
    schedule: OnCallSchedule,
    at: dt.datetime,
    overrides: Iterable[ScheduleOverride] = (),
) -> list[OnCall]:
    """Who is on call for each role of ``schedule`` at ``at``, primary first.

    ``overrides`` may hold any overrides; those of other schedules or other times are
    ignored. A role whose required layers leave nobody on call is returned as a gap.
    """
    zone = ZoneInfo(schedule.timezone or "UTC")
    layers: Sequence[ScheduleLayer] = sorted(
        schedule.layers, key=lambda layer: (layer.position, layer.id or 0)
    )
    by_id = {layer.id: layer for layer in layers}
    roles = sorted({layer.role for layer in layers}, key=_role_order)

    covering: dict[str, ScheduleOverride] = {}
    for override in overrides:
        if override.schedule_id != schedule.id or not override.starts_at <= at < override.ends_at:
            continue
        layer = by_id.get(override.layer_id)
        role = layer.role if layer is not None else PRIMARY
        best = covering.get(role)
        if best is None or (override.starts_at, override.id or 0) > (best.starts_at, best.id or 0):
            covering[role] = override
    for role in covering:
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
