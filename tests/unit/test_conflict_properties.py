"""Property tests of the conflict engine against naive references written here.

Each property builds a random little world inside one session per example (never
committed, so examples cannot see each other), runs :func:`find_conflicts` and compares
it with a brute-force reading of DOMAIN.md ("Changes and the CAB") and of the engine's
documented rules. All times sit on a 15-minute grid, so the references may reason on
15-minute slots or on plain interval arithmetic; none of them reuses engine code.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from app.models import (
    ChangeRequest,
    ChangeWindow,
    CIRelation,
    ConfigurationItem,
    Person,
    Service,
)
from app.services.conflicts import ConflictType, find_conflicts
from tests.unit.test_conflicts import add_roster, change, world

UTC = dt.UTC
#: Wednesday 25 Nov 2026 00:00 UTC: the changes fall in the three days from here.
BASE = dt.datetime(2026, 11, 25, tzinfo=UTC)
SLOT = dt.timedelta(minutes=15)
SLOTS_PER_DAY = 96
ACTIVE = ("New", "Assess", "Authorize", "Scheduled", "Implement")
STATES = (*ACTIVE, "Review", "Closed", "Canceled")

PROPERTY = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def slot(n: int) -> dt.datetime:
    return BASE + n * SLOT


def overlaps(a: tuple[dt.datetime, dt.datetime], b: tuple[dt.datetime, dt.datetime]) -> bool:
    """Half-open spans of positive length share an instant."""
    return a[0] < b[1] and b[0] < a[1]


def change_times(days: float = 3, longest: int = 24):
    """A change: first slot (within ``days`` days), length 15 min .. ``longest`` slots, state."""
    return st.tuples(
        st.integers(0, int(days * SLOTS_PER_DAY) - 1),
        st.integers(1, longest),
        st.sampled_from(STATES),
    )


#: Which changes the caller asks about: the default (active ones), every change, a subset.
subject_modes = st.sampled_from(["default", "all", "subset"])


def subjects_of(data, mode: str, changes: list) -> list[int] | None:
    if mode == "default":
        return None
    ids = [c.id for c in changes]
    if mode == "all":
        return ids
    return data.draw(st.lists(st.sampled_from(ids), unique=True), label="subjects") if ids else []


def run(session, ids: list[int] | None, changes: list) -> tuple[dict, set[int]]:
    """The engine's answer, and the subject ids the caller should get back."""
    found = find_conflicts(session, ids)
    expected = {c.id for c in changes if c.state in ACTIVE} if ids is None else set(ids)
    assert set(found) == expected
    return found, expected


def of_type(found: dict, kind: ConflictType) -> list:
    return [c for conflicts in found.values() for c in conflicts if c.type is kind]


# --------------------------------------------------------------------------------------
# Same CI and parent/child CI


def ci_tree(session, w: dict[str, int]) -> tuple[dict[str, int], set[tuple[int, int]]]:
    """core-sw1 -> mail-01 -> mail-disk, core-sw1 -> lb-01; edge-fw2 alone."""
    disk = ConfigurationItem(name="mail-disk", ci_class="disk")
    lb = ConfigurationItem(name="lb-01", ci_class="load balancer")
    session.add_all([disk, lb])
    session.flush()
    session.add_all(
        [
            CIRelation(parent_id=w["mail"], child_id=disk.id),
            CIRelation(parent_id=w["sw"], child_id=lb.id),
        ]
    )
    session.flush()
    cis = {
        "core-sw1": w["sw"],
        "mail-01": w["mail"],
        "edge-fw2": w["fw"],
        "mail-disk": disk.id,
        "lb-01": lb.id,
    }
    parent_child = {(w["sw"], w["mail"]), (w["mail"], disk.id), (w["sw"], lb.id)}
    return cis, parent_child


@PROPERTY
@given(
    specs=st.lists(
        st.tuples(
            change_times(days=0.25, longest=16),
            st.lists(
                st.sampled_from(["core-sw1", "mail-01", "edge-fw2", "mail-disk", "lb-01"]),
                min_size=1,
                max_size=2,
                unique=True,
            ),
        ),
        min_size=2,
        max_size=7,
    ),
    mode=subject_modes,
    data=st.data(),
)
def test_ci_conflicts_are_the_overlapping_pairs_on_the_same_or_a_related_ci(db, specs, mode, data):
    with db.session() as s:
        w = world(s)
        cis, parent_child = ci_tree(s, w)
        changes = [
            change(s, slot(a), slot(a + n), cis=[cis[c] for c in chosen], state=state)
            for (a, n, state), chosen in specs
        ]
        found, subjects = run(s, subjects_of(data, mode, changes), changes)

        same, related = Counter(), Counter()
        for me in changes:
            if me.id not in subjects or me.state not in ACTIVE:
                continue  # a done change holds nothing any more: no pair conflicts
            mine_cis = {c.id for c in me.cis}
            for other in changes:
                if other.id == me.id or other.state not in ACTIVE:
                    continue  # only active changes are another party
                if not overlaps(
                    (me.planned_start, me.planned_end), (other.planned_start, other.planned_end)
                ):
                    continue
                for mine in mine_cis:
                    for theirs in {c.id for c in other.cis}:
                        if mine == theirs:
                            same[(me.id, other.id, mine)] += 1
                        elif (theirs, mine) in parent_child:
                            related[(me.id, other.id, mine, theirs, "parent")] += 1
                        elif (mine, theirs) in parent_child:
                            related[(me.id, other.id, mine, theirs, "child")] += 1

        got_same = Counter(
            (c.change_id, c.other_id, c.ci_id) for c in of_type(found, ConflictType.SAME_CI)
        )
        got_related = Counter()
        for c in of_type(found, ConflictType.RELATED_CI):
            m = re.fullmatch(r"\S+ changes (\S+), the (parent|child) of (\S+), .*", c.sentence)
            assert m, c.sentence
            assert cis[m[3]] == c.ci_id
            got_related[(c.change_id, c.other_id, c.ci_id, cis[m[1]], m[2])] += 1
        event(f"same CI pairs: {bool(same)}, related: {bool(related)}")
        assert got_same == same
        assert got_related == related
        # The reported span is the overlap of the two planned windows.
        by_id = {c.id: c for c in changes}
        for c in of_type(found, ConflictType.SAME_CI) + of_type(found, ConflictType.RELATED_CI):
            a, b = by_id[c.change_id], by_id[c.other_id]
            assert (c.starts_at, c.ends_at) == (
                max(a.planned_start, b.planned_start),
                min(a.planned_end, b.planned_end),
            )


# --------------------------------------------------------------------------------------
# Blackout and maintenance windows


def second_service(session, w: dict[str, int]) -> dict[str, int]:
    """Payroll (no support group) with its database pay-db."""
    payroll = Service(name="Payroll")
    session.add(payroll)
    session.flush()
    db_ci = ConfigurationItem(name="pay-db", ci_class="database", service_id=payroll.id)
    session.add(db_ci)
    session.flush()
    return {**w, "payroll": payroll.id, "paydb": db_ci.id}


SCOPES = ("global", "svc:email", "svc:payroll", "ci:sw", "ci:mail", "ci:fw", "ci:paydb")
WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")


@st.composite
def windows(draw):
    """A window: scope, first occurrence, length, and an optional daily/weekly rule."""
    scope = draw(st.sampled_from(SCOPES))
    recurring = draw(st.booleans())
    if not recurring:
        first = draw(st.integers(-SLOTS_PER_DAY, 3 * SLOTS_PER_DAY))
        length = draw(st.integers(1, 2 * SLOTS_PER_DAY))
        return {"scope": scope, "start": slot(first), "length": length * SLOT, "rule": None}
    # Starts up to two weeks before the changes, or during them.
    day = draw(st.integers(-14, 2))
    first = slot(day * SLOTS_PER_DAY + draw(st.integers(0, SLOTS_PER_DAY - 1)))
    length = draw(st.integers(1, 30 * 4)) * SLOT  # up to 30 h: daily occurrences may overlap
    if draw(st.booleans()):
        rule, days = "FREQ=DAILY", set(range(7))
    else:
        others = draw(st.sets(st.integers(0, 6), max_size=3))
        days = others | {first.weekday()}  # DTSTART is one of the rule's days (RFC 5545)
        rule = "FREQ=WEEKLY;BYDAY=" + ",".join(WEEKDAYS[d] for d in sorted(days))
    until = draw(st.none() | st.integers(-7 * SLOTS_PER_DAY, 4 * SLOTS_PER_DAY).map(slot))
    return {
        "scope": scope,
        "start": first,
        "length": length,
        "rule": rule,
        "days": days,
        "until": until,
    }


def in_effect(spec: dict, span: tuple[dt.datetime, dt.datetime]) -> bool:
    """Whether a window's rule covers a change: one-off always; recurring from its first
    occurrence until (the last occurrence of) its rule."""
    if spec["rule"] is None:
        return True
    if spec["start"] >= span[1]:
        return False
    return spec["until"] is None or spec["until"] + spec["length"] > span[0]


def occurrences(spec: dict, horizon: dt.datetime) -> list[tuple[dt.datetime, dt.datetime]]:
    """Every occurrence starting before ``horizon``, expanded day by day."""
    if spec["rule"] is None:
        return [(spec["start"], spec["start"] + spec["length"])]
    spans = []
    at = spec["start"]
    while at < horizon:
        if at.weekday() in spec["days"] and (spec["until"] is None or at <= spec["until"]):
            spans.append((at, at + spec["length"]))
        at += dt.timedelta(days=1)
    return spans


def add_window(session, w: dict[str, int], kind: str, spec: dict, n: int) -> ChangeWindow:
    target, _, key = spec["scope"].partition(":")
    row = ChangeWindow(
        kind=kind,
        name=f"{kind} {n}",
        starts_at=spec["start"],
        ends_at=spec["start"] + spec["length"],
        recurrence=spec["rule"],
        recurrence_until=spec.get("until"),
        service_id=w[key] if target == "svc" else None,
        ci_id=w[key] if target == "ci" else None,
    )
    session.add(row)
    session.flush()
    return row


change_scopes = st.tuples(
    change_times(),
    st.lists(st.sampled_from(["sw", "mail", "fw", "paydb"]), max_size=2, unique=True),
    st.sampled_from([None, "email", "payroll"]),  # the change's own service
    st.lists(st.sampled_from(["email", "payroll"]), max_size=1),  # linked affected services
)


def scoped_change(session, w: dict[str, int], spec) -> tuple:
    """The change, its CIs with their services, and every service it affects."""
    (a, n, state), ci_keys, own, linked = spec
    chg = change(session, slot(a), slot(a + n), cis=[w[k] for k in ci_keys], state=state)
    chg.service_id = w[own] if own else None
    chg.services = [session.get(Service, w[k]) for k in linked]
    session.flush()
    ci_service = {c.id: c.service_id for c in chg.cis}
    services = {w[k] for k in linked} | ({w[own]} if own else set())
    services |= {sid for sid in ci_service.values() if sid is not None}
    return chg, ci_service, services


@PROPERTY
@given(
    window_specs=st.lists(windows(), max_size=4),
    change_specs=st.lists(change_scopes, min_size=1, max_size=5),
    mode=subject_modes,
    data=st.data(),
)
def test_a_change_is_in_a_blackout_iff_it_overlaps_an_occurrence_that_applies(
    db, window_specs, change_specs, mode, data
):
    with db.session() as s:
        w = second_service(s, world(s))
        rows = [
            (add_window(s, w, "blackout", spec, i), spec) for i, spec in enumerate(window_specs)
        ]
        changes = [scoped_change(s, w, spec) for spec in change_specs]
        found, subjects = run(
            s, subjects_of(data, mode, [c for c, _, _ in changes]), [c for c, _, _ in changes]
        )

        expected = Counter()
        for chg, ci_service, services in changes:
            if chg.id not in subjects:
                continue
            span = (chg.planned_start, chg.planned_end)
            for row, spec in rows:
                applies = (
                    (row.ci_id is None and row.service_id is None)
                    or row.ci_id in ci_service
                    or (row.service_id is not None and row.service_id in services)
                )
                if not applies:
                    continue
                for occ in occurrences(spec, span[1]):
                    if overlaps(occ, span):
                        expected[(chg.id, row.id, max(occ[0], span[0]), min(occ[1], span[1]))] += 1
        got = Counter(
            (c.change_id, c.other_id, c.starts_at, c.ends_at)
            for c in of_type(found, ConflictType.BLACKOUT)
        )
        event(f"blackout conflicts: {bool(expected)}")
        assert got == expected


@PROPERTY
@given(
    window_specs=st.lists(windows(), max_size=4),
    change_specs=st.lists(change_scopes, min_size=1, max_size=5),
    mode=subject_modes,
    data=st.data(),
)
def test_a_change_is_outside_maintenance_iff_no_single_applicable_occurrence_holds_it(
    db, window_specs, change_specs, mode, data
):
    """The engine's rule: for each CI of the change (or, with no CI, each service it
    affects) that has maintenance windows of its own or of its service, the change must
    lie wholly inside one occurrence of one of those or of a global window; a global
    window alone imposes nothing.

    A recurring window applies to a change from its first occurrence until its rule
    ends; a one-off window always applies."""
    with db.session() as s:
        w = second_service(s, world(s))
        rows = [
            (add_window(s, w, "maintenance", spec, i), spec) for i, spec in enumerate(window_specs)
        ]
        changes = [scoped_change(s, w, spec) for spec in change_specs]
        found, subjects = run(
            s, subjects_of(data, mode, [c for c, _, _ in changes]), [c for c, _, _ in changes]
        )

        globals_ = [(r, spec) for r, spec in rows if r.ci_id is None and r.service_id is None]
        expected = Counter()
        for chg, ci_service, services in changes:
            if chg.id not in subjects:
                continue
            span = (chg.planned_start, chg.planned_end)
            targets = list(ci_service.items()) or [(None, sid) for sid in services]
            live = [(r, spec) for r, spec in rows if in_effect(spec, span)]
            globals_ = [(r, spec) for r, spec in live if r.ci_id is None and r.service_id is None]
            for ci, service in targets:
                own = [
                    (r, spec)
                    for r, spec in live
                    if (ci is not None and r.ci_id == ci)
                    or (r.ci_id is None and service is not None and r.service_id == service)
                ]
                if not own:
                    continue
                inside = any(
                    start <= span[0] and span[1] <= end
                    for _, spec in own + globals_
                    for start, end in occurrences(spec, span[1])
                )
                if not inside:
                    expected[(chg.id, ci)] += 1
        got = Counter(
            (c.change_id, c.ci_id) for c in of_type(found, ConflictType.OUTSIDE_MAINTENANCE)
        )
        event(f"outside maintenance: {bool(expected)}")
        assert got == expected
        for c in of_type(found, ConflictType.OUTSIDE_MAINTENANCE):
            chg = s.get(ChangeRequest, c.change_id)
            assert (c.starts_at, c.ends_at) == (chg.planned_start, chg.planned_end)


# --------------------------------------------------------------------------------------
# Assignee double-booked


@PROPERTY
@given(
    specs=st.lists(
        st.tuples(
            change_times(days=0.25, longest=16), st.sampled_from([None, "alex", "sam", "kai"])
        ),
        max_size=8,
    ),
    mode=subject_modes,
    data=st.data(),
)
def test_an_assignee_is_busy_iff_they_implement_another_overlapping_change(db, specs, mode, data):
    with db.session() as s:
        w = world(s)
        kai = Person(name="Kai Lund")
        s.add(kai)
        s.flush()
        people = {"alex": w["alex"], "sam": w["sam"], "kai": kai.id}
        changes = [
            change(s, slot(a), slot(a + n), state=state, assignee=people[who] if who else None)
            for (a, n, state), who in specs
        ]
        found, subjects = run(s, subjects_of(data, mode, changes), changes)

        expected = {
            (me.id, other.id)
            for me in changes
            for other in changes
            if me.id in subjects
            and me.state in ACTIVE
            and other.id != me.id
            and other.state in ACTIVE
            and me.assignee_id is not None
            and me.assignee_id == other.assignee_id
            and overlaps(
                (me.planned_start, me.planned_end), (other.planned_start, other.planned_end)
            )
        }
        got = [(c.change_id, c.other_id) for c in of_type(found, ConflictType.ASSIGNEE_BUSY)]
        assert len(got) == len(set(got))
        event(f"double-booked: {bool(expected)}")
        assert set(got) == expected


# --------------------------------------------------------------------------------------
# Nobody on call


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


restriction = st.builds(
    lambda days, start, end: {
        **({"days": sorted(days)} if days else {}),
        "start": _hhmm(start * 15),
        "end": _hhmm(end * 15),
    },
    st.sets(st.integers(0, 6), max_size=4),
    st.integers(0, SLOTS_PER_DAY - 1),
    st.integers(1, SLOTS_PER_DAY),  # "24:00" allowed; end <= start runs past midnight
)


def covered(restrictions: list[dict], at: dt.datetime, zone: ZoneInfo) -> bool:
    """Whether the one layer has someone at ``at``: it has started (2 Nov 09:00 UTC), has
    members, and ``at`` lies in a restriction span (a span starts on one of its days at
    ``start`` and runs to ``end`` that day, or the next day when end <= start)."""
    if at < dt.datetime(2026, 11, 2, 9, tzinfo=UTC):
        return False
    if not restrictions:
        return True
    local = at.astimezone(zone).replace(tzinfo=None)
    for r in restrictions:
        a = int(r["start"][:2]) * 60 + int(r["start"][3:])
        b = int(r["end"][:2]) * 60 + int(r["end"][3:])
        days = r.get("days") or range(7)
        for back in (0, 1):  # a span opened today or yesterday
            day = local.date() - dt.timedelta(days=back)
            if day.weekday() not in days:
                continue
            opens = dt.datetime.combine(day, dt.time()) + dt.timedelta(minutes=a)
            closes = dt.datetime.combine(day, dt.time()) + dt.timedelta(
                minutes=b if b > a else b + 1440
            )
            if opens <= local < closes:
                return True
    return False


@PROPERTY
@given(
    restrictions=st.lists(restriction, min_size=1, max_size=3),
    zone=st.sampled_from(["UTC", "Europe/Berlin", "Asia/Kolkata", "America/New_York"]),
    specs=st.lists(
        st.tuples(
            change_times(days=2, longest=48),
            st.sampled_from(["sw", "mail", "fw", "email", "fw+email"]),
        ),
        min_size=1,
        max_size=4,
    ),
    mode=subject_modes,
    data=st.data(),
)
def test_nobody_on_call_is_flagged_for_exactly_the_uncovered_stretches_of_a_change(
    db, restrictions, zone, specs, mode, data
):
    with db.session() as s:
        w = world(s)
        sched = add_roster(s, w, restrictions=restrictions)
        sched.timezone = zone
        s.flush()
        changes = []
        for (a, n, state), scope in specs:
            cis = [w[k] for k in ("sw", "mail", "fw") if k in scope.split("+")]
            chg = change(s, slot(a), slot(a + n), cis=cis, state=state)
            if "email" in scope:
                chg.service_id = w["email"]
            changes.append(chg)
        s.flush()
        found, subjects = run(s, subjects_of(data, mode, changes), changes)

        expected = Counter()
        for chg in changes:
            if chg.id not in subjects:
                continue
            if chg.service_id is None and not {c.id for c in chg.cis} & {w["sw"], w["mail"]}:
                continue  # edge-fw2 alone belongs to no service: no support group to check
            gap_start = None
            at = chg.planned_start
            while at <= chg.planned_end:
                hole = at < chg.planned_end and not covered(restrictions, at, ZoneInfo(zone))
                if hole and gap_start is None:
                    gap_start = at
                if not hole and gap_start is not None:
                    expected[(chg.id, gap_start, at)] += 1
                    gap_start = None
                at += SLOT
        got = Counter(
            (c.change_id, c.starts_at, c.ends_at)
            for c in of_type(found, ConflictType.NOBODY_ON_CALL)
        )
        event(f"on-call gaps: {bool(expected)}")
        assert got == expected
        for c in of_type(found, ConflictType.NOBODY_ON_CALL):
            assert c.other_id == sched.id


# --------------------------------------------------------------------------------------
# Minimal examples the properties found once (kept as plain regression tests).


def test_an_inactive_change_asked_about_is_no_other_party_either(db):
    with db.session() as s:
        w = world(s)
        active = change(s, slot(84), slot(92), cis=[w["sw"]], assignee=w["alex"])
        closed = change(s, slot(84), slot(92), cis=[w["sw"]], assignee=w["alex"], state="Closed")
        assert find_conflicts(s, [active.id]) == {active.id: []}
        # Asking about both must not make the Closed change a party to the active one.
        assert find_conflicts(s, [active.id, closed.id])[active.id] == []


def test_a_change_wholly_after_its_services_one_off_window_is_outside_it(db):
    with db.session() as s:
        w = world(s)
        s.add(
            ChangeWindow(
                kind="maintenance",
                name="Email one-off",
                starts_at=slot(0),
                ends_at=slot(1),
                service_id=w["email"],
            )
        )
        partly = change(s, slot(0), slot(2), cis=[w["mail"]])
        after = change(s, slot(1), slot(2), cis=[w["sw"]])

        def outside(ids):
            found = find_conflicts(s, ids)
            return {
                i for i in ids if ConflictType.OUTSIDE_MAINTENANCE in {c.type for c in found[i]}
            }

        assert outside([partly.id]) == {partly.id}  # partly outside: flagged
        assert outside([partly.id, after.id]) == {partly.id, after.id}  # wholly outside too
        assert outside([after.id]) == {after.id}  # the same change on its own: missed
