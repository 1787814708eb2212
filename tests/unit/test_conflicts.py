"""Conflict engine: each conflict a CAB member must see, told as a sentence."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from app.models import (
    ChangeRequest,
    ChangeWindow,
    CIRelation,
    ConfigurationItem,
    LayerMember,
    OnCallSchedule,
    Person,
    ScheduleLayer,
    Service,
    Team,
)
from app.services.conflicts import (
    ConflictType,
    conflicts_for,
    find_conflicts,
    overlapping_pairs,
)

UTC = dt.UTC
THURSDAY = dt.datetime(2026, 11, 26, tzinfo=UTC)


def at(hour: float, day: dt.datetime = THURSDAY) -> dt.datetime:
    return day + dt.timedelta(hours=hour)


def world(session) -> dict[str, int]:
    """Network Operations supports Email; core-sw1 is the parent of mail-01."""
    team = Team(name="Network Operations")
    alex, sam = Person(name="Alex Kim"), Person(name="Sam Roe")
    session.add_all([team, alex, sam])
    session.flush()
    email = Service(name="Email", support_group_id=team.id)
    session.add(email)
    session.flush()
    sw = ConfigurationItem(name="core-sw1", ci_class="switch", service_id=email.id)
    mail = ConfigurationItem(name="mail-01", ci_class="server", service_id=email.id)
    other = ConfigurationItem(name="edge-fw2", ci_class="firewall")
    session.add_all([sw, mail, other])
    session.flush()
    session.add(CIRelation(parent_id=sw.id, child_id=mail.id))
    session.flush()
    return {
        "team": team.id,
        "alex": alex.id,
        "sam": sam.id,
        "email": email.id,
        "sw": sw.id,
        "mail": mail.id,
        "fw": other.id,
    }


_numbers = iter(range(1200, 10**6))


def change(session, start, end, *, cis=(), state="Scheduled", assignee=None, number=None):
    chg = ChangeRequest(
        number=number or f"CHG{next(_numbers):07d}",
        short_description="Change",
        planned_start=start,
        planned_end=end,
        state=state,
        assignee_id=assignee,
    )
    chg.cis = [session.get(ConfigurationItem, c) for c in cis]
    session.add(chg)
    session.flush()
    return chg


def types(conflicts) -> list[str]:
    return sorted(str(c.type) for c in conflicts)


def test_two_changes_on_the_core_switch_at_once_conflict_both_ways(db):
    with db.session() as s:
        w = world(s)
        a = change(s, at(21), at(23), cis=[w["sw"]], number="CHG0001000")
        b = change(s, at(22), at(23.5), cis=[w["sw"]], number="CHG0001234")
        found = find_conflicts(s)
        assert types(found[a.id]) == ["same_ci"] and types(found[b.id]) == ["same_ci"]
        conflict = found[a.id][0]
        assert conflict.other_id == b.id and conflict.ci_id == w["sw"]
        assert (conflict.starts_at, conflict.ends_at) == (at(22), at(23))
        assert found[b.id][0].sentence == (
            "CHG0001000 also changes core-sw1 from 22:00 to 23:00 on 2026-11-26."
        )


def test_a_change_ending_when_the_next_starts_is_no_conflict(db):
    with db.session() as s:
        w = world(s)
        a = change(s, at(20), at(22), cis=[w["sw"]], assignee=w["alex"])
        b = change(s, at(22), at(23), cis=[w["sw"]], assignee=w["alex"])
        assert find_conflicts(s) == {a.id: [], b.id: []}


def test_a_change_on_the_parent_switch_conflicts_with_one_on_its_server(db):
    with db.session() as s:
        w = world(s)
        a = change(s, at(21), at(23), cis=[w["sw"]], number="CHG0000001")
        b = change(s, at(22), at(24), cis=[w["mail"]], number="CHG0000002")
        c = change(s, at(21), at(23), cis=[w["fw"]])
        found = find_conflicts(s)
        assert types(found[a.id]) == ["related_ci"] and types(found[b.id]) == ["related_ci"]
        assert found[c.id] == []
        assert found[b.id][0].sentence == (
            "CHG0000001 changes core-sw1, the parent of mail-01, from 22:00 to 23:00 on 2026-11-26."
        )
        assert "the child of core-sw1" in found[a.id][0].sentence


def test_canceled_and_closed_changes_are_no_other_party(db):
    with db.session() as s:
        w = world(s)
        a = change(s, at(21), at(23), cis=[w["sw"]], assignee=w["alex"])
        change(s, at(21), at(23), cis=[w["sw"]], assignee=w["alex"], state="Canceled")
        change(s, at(21), at(23), cis=[w["sw"]], assignee=w["alex"], state="Closed")
        assert find_conflicts(s) == {a.id: []}


def test_the_implementer_cannot_be_in_two_changes_at_once(db):
    with db.session() as s:
        w = world(s)
        a = change(s, at(22), at(24), cis=[w["sw"]], assignee=w["alex"], number="CHG0001200")
        b = change(s, at(23), at(25), cis=[w["fw"]], assignee=w["alex"])
        change(s, at(23), at(25), assignee=w["sam"])
        found = find_conflicts(s, [b.id])
        assert list(found) == [b.id]
        (conflict,) = found[b.id]
        assert conflict.type is ConflictType.ASSIGNEE_BUSY and conflict.other_id == a.id
        assert conflict.sentence.startswith("Alex Kim is already implementing CHG0001200 ")


def test_the_year_end_freeze_catches_a_change_on_any_ci(db):
    with db.session() as s:
        w = world(s)
        s.add(
            ChangeWindow(
                kind="blackout",
                name="Year-end change freeze 2026",
                starts_at=dt.datetime(2026, 12, 15, tzinfo=UTC),
                ends_at=dt.datetime(2027, 1, 5, tzinfo=UTC),
            )
        )
        day = dt.datetime(2026, 12, 20, tzinfo=UTC)
        a = change(s, at(2, day), at(4, day), cis=[w["sw"]])
        b = change(s, at(2), at(4), cis=[w["sw"]])
        found = find_conflicts(s)
        assert found[b.id] == []
        (conflict,) = found[a.id]
        assert conflict.type is ConflictType.BLACKOUT and conflict.other_kind == "window"
        assert conflict.sentence == (
            "core-sw1 is inside the blackout window 'Year-end change freeze 2026' (15 Dec - 5 Jan)."
        )


def test_a_recurring_blackout_on_the_service_catches_its_weekly_occurrence(db):
    with db.session() as s:
        w = world(s)
        first_friday = dt.datetime(2026, 10, 2, 8, tzinfo=UTC)
        s.add(
            ChangeWindow(
                kind="blackout",
                name="Friday mail peak",
                starts_at=first_friday,
                ends_at=first_friday + dt.timedelta(hours=10),
                recurrence="FREQ=WEEKLY;BYDAY=FR",
                service_id=w["email"],
            )
        )
        s.add(
            ChangeWindow(
                kind="blackout",
                name="Switch freeze",
                starts_at=first_friday,
                ends_at=first_friday + dt.timedelta(hours=10),
                recurrence="FREQ=WEEKLY;BYDAY=FR",
                ci_id=w["fw"],
            )
        )
        friday = THURSDAY + dt.timedelta(days=1)
        hit = change(s, at(17, friday), at(19, friday), cis=[w["mail"]])
        evening = change(s, at(19, friday), at(21, friday), cis=[w["mail"]])
        thursday = change(s, at(9), at(10), cis=[w["sw"]])
        found = find_conflicts(s)
        (conflict,) = found[hit.id]
        assert conflict.type is ConflictType.BLACKOUT
        assert (conflict.starts_at, conflict.ends_at) == (at(17, friday), at(18, friday))
        assert conflict.sentence == (
            "Email is inside the blackout window 'Friday mail peak' (27 Nov 08:00-18:00)."
        )
        assert found[evening.id] == [] and found[thursday.id] == []


def test_a_change_outside_the_sunday_window_of_its_service_is_flagged(db):
    with db.session() as s:
        w = world(s)
        sunday = dt.datetime(2026, 11, 1, 2, tzinfo=UTC)
        s.add(
            ChangeWindow(
                kind="maintenance",
                name="Sunday maintenance window",
                starts_at=sunday,
                ends_at=sunday + dt.timedelta(hours=4),
                recurrence="FREQ=WEEKLY;BYDAY=SU",
                service_id=w["email"],
            )
        )
        next_sunday = dt.datetime(2026, 11, 29, tzinfo=UTC)
        inside = change(s, at(2 + 7 * 24, next_sunday), at(6 + 7 * 24, next_sunday), cis=[w["sw"]])
        spills = change(s, at(5, next_sunday), at(7, next_sunday), cis=[w["mail"]])
        unscoped = change(s, at(12), at(13), cis=[w["fw"]])
        found = find_conflicts(s)
        assert found[inside.id] == [] and found[unscoped.id] == []
        (conflict,) = found[spills.id]
        assert conflict.type is ConflictType.OUTSIDE_MAINTENANCE
        assert conflict.sentence == (
            "Planned outside mail-01's maintenance window (Sundays 02:00-06:00)."
        )


def add_roster(session, w, *, restrictions):
    sched = OnCallSchedule(name="Network on call", team_id=w["team"], timezone="UTC")
    layer = ScheduleLayer(
        name="Primary",
        rotation_start=dt.datetime(2026, 11, 2, 9, tzinfo=UTC),
        turn_seconds=86400,
        restrictions=restrictions,
    )
    layer.members = [
        LayerMember(person_id=w["alex"], position=0),
        LayerMember(person_id=w["sam"], position=1),
    ]
    sched.layers = [layer]
    session.add(sched)
    session.flush()
    return sched


def test_nobody_on_call_for_the_support_group_during_the_night_window(db):
    with db.session() as s:
        w = world(s)
        # Covered 05:00-03:00 every day: a gap of two hours each night.
        sched = add_roster(s, w, restrictions=[{"start": "05:00", "end": "03:00"}])
        night = change(s, at(1), at(6), cis=[w["mail"]])
        day = change(s, at(10), at(12), cis=[w["sw"]])
        found = find_conflicts(s)
        assert found[day.id] == []
        (conflict,) = found[night.id]
        assert conflict.type is ConflictType.NOBODY_ON_CALL and conflict.other_id == sched.id
        assert (conflict.starts_at, conflict.ends_at) == (at(3), at(5))
        assert conflict.sentence == (
            "Nobody is on call for Network Operations (the support group of Email) "
            "between 03:00 and 05:00."
        )


def test_a_published_roster_that_covers_the_night_removes_the_gap(db):
    from app.models import Roster, RosterShift

    with db.session() as s:
        w = world(s)
        sched = add_roster(s, w, restrictions=[{"start": "05:00", "end": "03:00"}])
        night = change(s, at(1), at(6), cis=[w["mail"]])
        draft = Roster(schedule_id=sched.id, name="draft", starts_on=at(0).date(), weeks=1)
        draft.shifts = [RosterShift(layer_id=sched.layers[0].id, person_id=w["sam"],
                                    starts_at=at(2), ends_at=at(6))]  # fmt: skip
        s.add(draft)
        s.flush()
        assert [c.type for c in find_conflicts(s)[night.id]] == [ConflictType.NOBODY_ON_CALL]
        draft.status = "published"
        s.flush()
        # The published shift covers 02:00-06:00, the rotation's gap was 03:00-05:00.
        assert find_conflicts(s)[night.id] == []


def test_a_dragged_change_is_rechecked_at_its_new_time_before_saving(db):
    with db.session() as s:
        w = world(s)
        a = change(s, at(10), at(12), cis=[w["sw"]])
        b = change(s, at(14), at(15), cis=[w["sw"]], number="CHG0001234")
        assert conflicts_for(s, a.id) == []
        moved = conflicts_for(s, a.id, at(13.5), at(14.5))
        assert types(moved) == ["same_ci"] and moved[0].other_id == b.id
        assert (
            moved[0].sentence
            == "CHG0001234 also changes core-sw1 from 14:00 to 14:30 on 2026-11-26."
        )
        # Nothing was saved: the stored window is unchanged.
        assert s.get(ChangeRequest, a.id).planned_start == at(10)
        assert conflicts_for(s, a.id) == []


def test_conflicts_are_found_on_both_databases(any_db):
    with any_db.transaction() as s:
        w = world(s)
        a = change(s, at(21), at(23), cis=[w["sw"]], assignee=w["alex"])
        b = change(s, at(22), at(24), cis=[w["mail"]], assignee=w["alex"])
        s.add(
            ChangeWindow(
                kind="blackout",
                name="Thursday freeze",
                starts_at=at(0),
                ends_at=at(22.5),
                ci_id=w["sw"],
            )
        )
        ids = (a.id, b.id)
    with any_db.session() as s:
        found = find_conflicts(s, window=(at(0), at(48)))
        assert types(found[ids[0]]) == ["assignee_busy", "blackout", "related_ci"]
        assert types(found[ids[1]]) == ["assignee_busy", "related_ci"]


spans = st.lists(
    st.tuples(st.integers(0, 200), st.integers(1, 50)).map(
        lambda t: (at(t[0] / 4), at(t[0] / 4 + t[1] / 4))
    ),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(spans)
def test_the_sweep_finds_exactly_the_pairs_a_pairwise_check_finds(intervals):
    brute = {
        (i, j)
        for i in range(len(intervals))
        for j in range(i + 1, len(intervals))
        if intervals[i][0] < intervals[j][1] and intervals[j][0] < intervals[i][1]
    }
    found = overlapping_pairs(intervals)
    assert len(found) == len(set(found))
    assert set(found) == brute
