"""The escalation matrix: who is called at each level of a policy, and after how long.

A policy (:class:`~app.models.EscalationPolicy`) has ordered levels; each level names one
contact, either a person or an on-call role of a schedule ("whoever is primary on the
Network schedule"), with optional contact details, and a timeout in minutes before the
incident escalates to the next level. Level 1 is called at once, level 2 after level 1's
timeout, and so on (:attr:`LevelDraft.reached_after`).

Rules checked before anything is saved (:func:`validate_levels`), each broken one named in
a sentence: at least one level; each level has a label, a contact (a person or an on-call
role of a schedule that has that role) and a timeout of 1 to 1,440 minutes; a level never
waits less than the one before it (timeouts do not decrease down the matrix, so each level
is reached strictly later than the one before). :func:`save_policy` replaces a policy's
levels in the caller's transaction, refuses a save over someone else's newer one, and the
audit hook records every inserted, changed and deleted level.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, selectinload

from app.models import (
    EscalationLevel,
    EscalationPolicy,
    OnCallSchedule,
    Person,
    ScheduleLayer,
    Team,
)
from app.models.base import utcnow

MAX_TIMEOUT = 24 * 60
MAX_LABEL = 60
MAX_REPEAT = 9


class EscalationInvalid(ValueError):
    """The matrix breaks a rule; ``problems`` holds one sentence per broken rule."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__(" ".join(self.problems))


class EscalationConflict(RuntimeError):
    """Someone else saved the policy after it was read."""


@dataclass(frozen=True)
class LevelDraft:
    """One level as the editor holds it (``id`` None: not saved yet)."""

    label: str
    timeout_minutes: int
    person_id: int | None = None
    schedule_id: int | None = None
    layer_role: str | None = None
    contact: str = ""
    id: int | None = None
    #: Minutes after the incident is raised that this level is called (filled on load).
    reached_after: int = 0
    #: Who the level calls, in words ("Primary on call of Network on call", a name).
    who: str = ""


@dataclass(frozen=True)
class PolicyDetail:
    id: int
    name: str
    version: int
    repeat_count: int
    team_id: int | None
    levels: tuple[LevelDraft, ...]


@dataclass(frozen=True)
class PolicySummary:
    id: int
    name: str
    levels: int


@dataclass(frozen=True)
class ContactChoices:
    """What a level may call: people (id, name) and schedules with their roles."""

    people: tuple[tuple[int, str], ...]
    schedules: tuple[tuple[int, str, tuple[str, ...]], ...]
    extra: dict[int, str] = field(default_factory=dict)


def reached_after(levels: Sequence[LevelDraft]) -> list[int]:
    """Minutes after the start at which each level is called (level 1 at 0)."""
    out, total = [], 0
    for level in levels:
        out.append(total)
        total += max(0, int(level.timeout_minutes or 0))
    return out


def _roles(session: Session, schedule_ids: set[int]) -> dict[int, set[str]]:
    roles: dict[int, set[str]] = {sid: set() for sid in schedule_ids}
    if schedule_ids:
        rows = session.execute(
            select(ScheduleLayer.schedule_id, ScheduleLayer.role).where(
                ScheduleLayer.schedule_id.in_(schedule_ids)
            )
        )
        for sid, role in rows:
            roles.setdefault(sid, set()).add(role)
    return roles


def validate_levels(
    levels: Sequence[LevelDraft],
    *,
    schedule_roles: dict[int, set[str]] | None = None,
    people: set[int] | None = None,
    repeat_count: int = 0,
) -> list[str]:
    """Every rule the levels break, one sentence each (empty: fine).

    ``schedule_roles`` (schedule id -> its layer roles) and ``people`` (known person ids)
    check that contacts exist, when given.
    """
    problems: list[str] = []
    if not levels:
        problems.append("The matrix needs at least one level: whom to call first.")
    if not isinstance(repeat_count, int) or not 0 <= repeat_count <= MAX_REPEAT:
        problems.append(f"Repeats must be a whole number from 0 to {MAX_REPEAT}.")
    previous: LevelDraft | None = None
    for n, level in enumerate(levels, start=1):
        label = (level.label or "").strip()
        name = f"Level {n}" + (f" ({label})" if label else "")
        if not label:
            problems.append(f"Level {n} needs a label, such as “L{n} on call”.")
        elif len(label) > MAX_LABEL:
            problems.append(f"{name}: the label is longer than {MAX_LABEL} characters.")
        timeout = level.timeout_minutes
        if not isinstance(timeout, int) or timeout < 1:
            problems.append(
                f"{name} must wait at least 1 minute before escalating (it says {timeout})."
            )
        elif timeout > MAX_TIMEOUT:
            problems.append(f"{name} waits {timeout} minutes; the longest allowed is a day (1440).")
        elif (
            previous is not None
            and isinstance(previous.timeout_minutes, int)
            and timeout < previous.timeout_minutes
        ):
            problems.append(
                f"{name} waits {timeout} min before escalating, less than the "
                f"{previous.timeout_minutes} min of level {n - 1}; timeouts must not "
                "decrease down the matrix."
            )
        has_role = level.schedule_id is not None and bool(level.layer_role)
        if level.person_id is None and not has_role:
            problems.append(
                f"{name} has no contact: choose a person or the on-call role of a schedule."
            )
        if level.person_id is not None and people is not None and level.person_id not in people:
            problems.append(f"{name} calls a person who does not exist (id {level.person_id}).")
        if has_role and schedule_roles is not None:
            roles = schedule_roles.get(level.schedule_id)
            if roles is None:
                problems.append(f"{name} calls a schedule that does not exist.")
            elif level.layer_role not in roles:
                problems.append(
                    f"{name} calls the {level.layer_role} on call, but that schedule has no "
                    f"{level.layer_role} layer (it has {', '.join(sorted(roles)) or 'none'})."
                )
        previous = level
    return problems


def _describe(level: EscalationLevel, people: dict[int, str], schedules: dict[int, str]) -> str:
    if level.schedule_id is not None and level.layer_role:
        return (
            f"{level.layer_role.capitalize()} on call of "
            f"{schedules.get(level.schedule_id, f'schedule {level.schedule_id}')}"
        )
    if level.person_id is not None:
        return people.get(level.person_id, f"Person {level.person_id}")
    return "Nobody"


def list_policies(session: Session, schedule_id: int | None = None) -> list[PolicySummary]:
    """Every policy by name; with ``schedule_id``, only those whose levels call that
    schedule or that belong to its team."""
    query = select(EscalationPolicy).options(selectinload(EscalationPolicy.levels))
    if schedule_id is not None:
        schedule = session.get(OnCallSchedule, schedule_id)
        calling = select(EscalationLevel.policy_id).where(
            EscalationLevel.schedule_id == schedule_id
        )
        conditions = [EscalationPolicy.id.in_(calling)]
        if schedule is not None and schedule.team_id is not None:
            conditions.append(EscalationPolicy.team_id == schedule.team_id)
        query = query.where(or_(*conditions))
    policies = session.scalars(query.order_by(EscalationPolicy.name)).all()
    return [PolicySummary(p.id, p.name, len(p.levels)) for p in policies]


def load_policy(session: Session, policy_id: int) -> PolicyDetail:
    """A policy with its levels in order, each with who it calls in words."""
    policy = session.scalars(
        select(EscalationPolicy)
        .where(EscalationPolicy.id == policy_id)
        .options(selectinload(EscalationPolicy.levels))
    ).one_or_none()
    if policy is None:
        raise ValueError(f"There is no escalation policy {policy_id}.")
    person_ids = {lv.person_id for lv in policy.levels if lv.person_id is not None}
    schedule_ids = {lv.schedule_id for lv in policy.levels if lv.schedule_id is not None}
    people = dict(
        session.execute(select(Person.id, Person.name).where(Person.id.in_(person_ids))).all()
    )
    schedules = dict(
        session.execute(
            select(OnCallSchedule.id, OnCallSchedule.name).where(
                OnCallSchedule.id.in_(schedule_ids)
            )
        ).all()
    )
    levels = [
        LevelDraft(
            lv.label,
            lv.timeout_minutes,
            lv.person_id,
            lv.schedule_id,
            lv.layer_role,
            lv.contact or "",
            lv.id,
            who=_describe(lv, people, schedules),
        )
        for lv in sorted(policy.levels, key=lambda lv: (lv.level, lv.id))
    ]
    times = reached_after(levels)
    levels = [replace(lv, reached_after=t) for lv, t in zip(levels, times, strict=True)]
    return PolicyDetail(
        policy.id, policy.name, policy.version, policy.repeat_count, policy.team_id, tuple(levels)
    )


def contact_choices(session: Session, schedule_id: int | None = None) -> ContactChoices:
    """People a level may call (the schedule's team and layer members first, then every
    active agent) and the schedules with their roles."""
    first: list[int] = []
    if schedule_id is not None:
        schedule = session.get(OnCallSchedule, schedule_id)
        if schedule is not None:
            for layer in schedule.layers:
                first += [m.person_id for m in layer.members if m.person_id not in first]
            if schedule.team_id is not None:
                team = session.get(Team, schedule.team_id)
                if team is not None:
                    first += [p.id for p in team.members if p.id not in first]
    rows = session.execute(
        select(Person.id, Person.name)
        .where(Person.active.is_(True), or_(Person.is_agent.is_(True), Person.id.in_(first)))
        .order_by(Person.name)
    ).all()
    names = dict(rows)
    ordered = [(pid, names[pid]) for pid in first if pid in names]
    seen = set(first)
    ordered += [(pid, name) for pid, name in rows if pid not in seen]
    schedules = session.execute(
        select(OnCallSchedule.id, OnCallSchedule.name).order_by(OnCallSchedule.name)
    ).all()
    roles = _roles(session, {sid for sid, _ in schedules})
    return ContactChoices(
        tuple(ordered),
        tuple((sid, name, tuple(sorted(roles.get(sid, ())))) for sid, name in schedules),
    )


def save_policy(
    session: Session,
    policy_id: int,
    levels: Sequence[LevelDraft],
    *,
    version: int | None = None,
    repeat_count: int | None = None,
) -> PolicyDetail:
    """Replace the levels of a policy with ``levels`` (in order), in the session's transaction.

    Raises :class:`EscalationInvalid` (nothing written) when a rule is broken and
    :class:`EscalationConflict` when ``version`` is given and the policy has been saved
    since. Levels keep their row where ``id`` matches, so the audit log shows each field
    that changed; removed levels are deleted, new ones inserted.
    """
    policy = session.scalars(
        select(EscalationPolicy)
        .where(EscalationPolicy.id == policy_id)
        .options(selectinload(EscalationPolicy.levels))
    ).one_or_none()
    if policy is None:
        raise ValueError(f"There is no escalation policy {policy_id}.")
    if version is not None and policy.version != version:
        raise EscalationConflict(
            f"Someone else saved the escalation policy “{policy.name}” after you opened it; "
            "reload it to see their change."
        )
    repeats = policy.repeat_count if repeat_count is None else repeat_count
    schedule_ids = {lv.schedule_id for lv in levels if lv.schedule_id is not None}
    person_ids = {lv.person_id for lv in levels if lv.person_id is not None}
    known = set(session.scalars(select(Person.id).where(Person.id.in_(person_ids))))
    existing_schedules = set(
        session.scalars(select(OnCallSchedule.id).where(OnCallSchedule.id.in_(schedule_ids)))
    )
    roles = _roles(session, existing_schedules)
    problems = validate_levels(levels, schedule_roles=roles, people=known, repeat_count=repeats)
    if problems:
        raise EscalationInvalid(problems)

    by_id = {lv.id: lv for lv in policy.levels}
    keep = {lv.id for lv in levels if lv.id is not None}
    for row in list(policy.levels):
        if row.id not in keep:
            policy.levels.remove(row)
            session.delete(row)  # explicit, so the audit log sees the delete
    new_rows = []
    for n, draft in enumerate(levels, start=1):
        row = by_id.get(draft.id) if draft.id is not None else None
        if row is None:
            row = EscalationLevel(level=n)
            new_rows.append(row)
        values = {
            "level": n,
            "label": draft.label.strip(),
            "timeout_minutes": int(draft.timeout_minutes),
            "person_id": draft.person_id,
            "schedule_id": draft.schedule_id if draft.layer_role else None,
            "layer_role": draft.layer_role if draft.schedule_id is not None else None,
            "contact": (draft.contact or "").strip(),
        }
        if draft.person_id is not None and not draft.layer_role:
            values["schedule_id"] = None
            values["layer_role"] = None
        for key, value in values.items():
            if getattr(row, key) != value:
                setattr(row, key, value)
    for row in new_rows:
        policy.levels.append(row)
    policy.repeat_count = repeats
    # Always bump the policy's version, so another console's stale save is refused.
    now, last = utcnow(), policy.updated_at
    if last is not None and last.tzinfo is None:
        last = last.replace(tzinfo=now.tzinfo)
    policy.updated_at = now if last is None or now > last else last + dt.timedelta(seconds=1)
    session.flush()
    return load_policy(session, policy_id)


def create_policy(
    session: Session, name: str, levels: Sequence[LevelDraft], *, team_id: int | None = None
) -> PolicyDetail:
    """A new policy with ``levels`` (checked as :func:`save_policy`)."""
    name = (name or "").strip()
    if not name:
        raise EscalationInvalid(["The policy needs a name."])
    if session.scalar(select(EscalationPolicy.id).where(EscalationPolicy.name == name)):
        raise EscalationInvalid([f"A policy named “{name}” already exists."])
    schedule_ids = {lv.schedule_id for lv in levels if lv.schedule_id is not None}
    problems = validate_levels(levels, schedule_roles=_roles(session, schedule_ids))
    if problems:
        raise EscalationInvalid(problems)
    policy = EscalationPolicy(name=name, team_id=team_id, repeat_count=0)
    session.add(policy)
    session.flush()
    return save_policy(session, policy.id, levels)


def default_levels(schedule_id: int, roles: Sequence[str]) -> list[LevelDraft]:
    """L1 the schedule's primary, L2 its secondary (if it has one), 15 minutes each."""
    out = [LevelDraft("L1 on call", 15, schedule_id=schedule_id, layer_role="primary")]
    if "secondary" in roles:
        out.append(LevelDraft("L2 secondary", 15, schedule_id=schedule_id, layer_role="secondary"))
    return out


__all__ = [
    "ContactChoices",
    "EscalationConflict",
    "EscalationInvalid",
    "LevelDraft",
    "PolicyDetail",
    "PolicySummary",
    "contact_choices",
    "create_policy",
    "default_levels",
    "list_policies",
    "load_policy",
    "reached_after",
    "save_policy",
    "validate_levels",
]
