"""The CAB calendar's data: what a month shows, and a drag's check and save."""

from __future__ import annotations

import datetime as dt

import pytest

from app.models import ChangeRequest, ChangeWindow, ConfigurationItem, Service
from app.services.change_calendar import (
    load_calendar,
    reschedule,
    reschedule_check,
    window_occurrences,
)
from app.services.changes import ChangeFilter, ConflictError, WorkflowError

UTC = dt.UTC
NOV = dt.datetime(2026, 11, 1, tzinfo=UTC)
DEC = dt.datetime(2026, 12, 1, tzinfo=UTC)
NOW = dt.datetime(2026, 11, 23, 12, tzinfo=UTC)
H = dt.timedelta(hours=1)


def at(day: int, hour: float, month: int = 11) -> dt.datetime:
    return dt.datetime(2026, month, day, tzinfo=UTC) + dt.timedelta(hours=hour)


def change(s, number, start, end, *, state="New", cis=(), risk="Moderate", **extra):
    chg = ChangeRequest(
        number=number,
        short_description=f"Change {number}",
        planned_start=start,
        planned_end=end,
        state=state,
        risk=risk,
        **extra,
    )
    chg.cis = list(cis)
    s.add(chg)
    s.flush()
    return chg


@pytest.fixture
def world(db):
    """Email with mail-01; a Sunday maintenance window; a quarter-end freeze on Email."""
    with db.transaction() as s:
        email = Service(name="Email")
        s.add(email)
        s.flush()
        mail = ConfigurationItem(name="mail-01", ci_class="server", service_id=email.id)
        s.add(mail)
        s.flush()
        s.add_all(
            [
                ChangeWindow(
                    kind="maintenance",
                    name="Sunday maintenance",
                    starts_at=at(1, 2),
                    ends_at=at(1, 6),
                    recurrence="FREQ=WEEKLY;BYDAY=SU",
                ),
                ChangeWindow(
                    kind="blackout",
                    name="Quarter-end close",
                    starts_at=at(28, 0),
                    ends_at=at(1, 0, month=12),
                    service_id=email.id,
                ),
                ChangeWindow(
                    kind="blackout",
                    name="Old freeze",
                    starts_at=at(1, 0, month=1),
                    ends_at=at(5, 0, month=1),
                ),
            ]
        )
        a = change(s, "CHG0000001", at(24, 20), at(24, 22), state="Scheduled", cis=[mail])
        b = change(s, "CHG0000002", at(24, 21), at(24, 23), cis=[mail], risk="High")
        # Starts in October, ends in November: overlaps the month.
        c = change(s, "CHG0000003", at(31, 22, month=10), at(1, 2), state="Closed")
        # In December: outside the month.
        change(s, "CHG0000004", at(2, 10, month=12), at(2, 11, month=12))
        # In the freeze on Email.
        e = change(s, "CHG0000005", at(29, 10), at(29, 12), cis=[mail], risk="Low")
        ids = {"a": a.id, "b": b.id, "c": c.id, "e": e.id, "email": email.id, "mail": mail.id}
    return ids


def test_a_month_holds_the_changes_overlapping_it_with_names_and_versions(db, world):
    with db.session() as s:
        data = load_calendar(s, NOV, DEC, None, NOW)
    assert [c.number for c in data.changes] == [
        "CHG0000003",
        "CHG0000001",
        "CHG0000002",
        "CHG0000005",
    ]
    first = data.change(world["a"])
    assert first is not None
    assert (first.start, first.end) == (at(24, 20), at(24, 22))
    assert (first.state, first.risk, first.type, first.version) == (
        "Scheduled",
        "Moderate",
        "Normal",
        1,
    )
    assert (data.start, data.end, data.now) == (NOV, DEC, NOW)


def test_two_changes_on_mail_01_at_once_carry_each_others_conflict(db, world):
    with db.session() as s:
        data = load_calendar(s, NOV, DEC, None, NOW)
    a, b = data.change(world["a"]), data.change(world["b"])
    assert a is not None and b is not None
    assert [c.sentence for c in a.conflicts] == [
        "CHG0000002 also changes mail-01 from 21:00 to 22:00 on 2026-11-24."
    ]
    assert b.has_conflicts and b.conflicts[0].other_id == world["a"]
    # A closed change conflicts with nothing; the change in the freeze is flagged.
    assert data.change(world["c"]).conflicts == ()  # type: ignore[union-attr]
    (freeze,) = data.change(world["e"]).conflicts  # type: ignore[union-attr]
    assert "Quarter-end close" in freeze.sentence
    assert data.conflicting == 3


def test_the_filter_narrows_the_changes_but_not_the_conflicts(db, world):
    with db.session() as s:
        data = load_calendar(s, NOV, DEC, ChangeFilter(risks=("High",)), NOW)
    assert [c.number for c in data.changes] == ["CHG0000002"]
    assert data.changes[0].conflicts[0].other_name == "CHG0000001"


def test_windows_are_expanded_into_the_occurrences_inside_the_range(db, world):
    with db.session() as s:
        occurrences = window_occurrences(s, NOV, DEC)
    sundays = [w for w in occurrences if w.kind == "maintenance"]
    assert [w.start.day for w in sundays] == [1, 8, 15, 22, 29]
    assert all(w.end - w.start == 4 * H and w.recurring for w in sundays)
    assert sundays[0].scope == "everything"
    (freeze,) = [w for w in occurrences if w.kind == "blackout"]
    assert (freeze.name, freeze.service, freeze.scope) == ("Quarter-end close", "Email", "Email")
    assert (freeze.start, freeze.end) == (at(28, 0), at(1, 0, month=12))


def test_a_week_shows_only_that_weeks_occurrences(db, world):
    with db.session() as s:
        data = load_calendar(s, at(23, 0), at(30, 0), None, NOW)
    assert [(w.name, w.start.day) for w in data.windows] == [
        ("Quarter-end close", 28),
        ("Sunday maintenance", 29),
    ]
    assert {c.number for c in data.changes} == {"CHG0000001", "CHG0000002", "CHG0000005"}


def test_a_reversed_or_huge_period_is_refused(db, world):
    with db.session() as s:
        with pytest.raises(WorkflowError, match="must end after it starts"):
            load_calendar(s, DEC, NOV, None, NOW)
        with pytest.raises(WorkflowError, match="at most"):
            load_calendar(s, NOV, NOV + dt.timedelta(days=3000), None, NOW)


def test_moving_a_change_away_from_its_twin_clears_the_conflict(db, world):
    with db.session() as s:
        assert reschedule_check(s, world["b"], at(24, 22), at(25, 0)) == []
        moved_into = reschedule_check(s, world["e"], at(24, 20), at(24, 21))
        assert {c.other_name for c in moved_into} == {"CHG0000001"}
        # Nothing was saved.
        assert s.get(ChangeRequest, world["b"]).planned_start == at(24, 21)


def test_moving_into_the_freeze_names_the_blackout(db, world):
    with db.session() as s:
        found = reschedule_check(s, world["b"], at(28, 9), at(28, 10))
    assert [str(c.type) for c in found] == ["blackout"]
    assert "Quarter-end close" in found[0].sentence


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        (at(24, 22), at(24, 21), "must be after the planned start"),
        (at(24, 22), at(24, 22), "must be after the planned start"),
        (at(24, 22), at(24, 22) + dt.timedelta(days=800), "too long"),
        (dt.datetime(2026, 11, 24, 22), at(24, 23), "no time zone"),
    ],
)
def test_impossible_windows_are_refused_before_anything_is_checked(db, world, start, end, message):
    with db.session() as s:
        with pytest.raises(WorkflowError, match=message):
            reschedule_check(s, world["b"], start, end)
        with pytest.raises(WorkflowError, match=message):
            reschedule(s, world["b"], start, end, 1, None)


def test_a_missing_change_is_refused(db, world):
    with db.session() as s:
        with pytest.raises(WorkflowError, match="no longer exists"):
            reschedule_check(s, 999_999, at(24, 20), at(24, 21))


def test_reschedule_saves_the_new_window_through_the_workflow(db, world):
    with db.transaction() as s:
        saved = reschedule(s, world["b"], at(25, 21), at(25, 23), 1, None)
        assert (saved.planned_start, saved.planned_end) == (at(25, 21), at(25, 23))
    with db.session() as s:
        row = s.get(ChangeRequest, world["b"])
        assert (row.planned_start, row.version) == (at(25, 21), 2)


def test_reschedule_over_a_newer_save_is_refused(db, world):
    with db.transaction() as s:
        reschedule(s, world["b"], at(25, 21), at(25, 23), 1, None)
    with db.session() as s:
        with pytest.raises(ConflictError, match="Nothing was overwritten"):
            reschedule(s, world["b"], at(26, 21), at(26, 23), 1, None)


def test_a_closed_change_cannot_be_moved(db, world):
    with db.session() as s:
        with pytest.raises(WorkflowError):
            reschedule(s, world["c"], at(3, 20), at(3, 22), 1, None)
