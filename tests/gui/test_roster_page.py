"""The Roster page: timeline, now on call, overrides and swaps under the rules, the solver's
draft, and the escalation matrix editor."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from sqlalchemy import select

from app.models import (
    AuditEntry,
    Country,
    EscalationLevel,
    EscalationPolicy,
    LayerMember,
    OnCallSchedule,
    Person,
    Roster,
    ScheduleLayer,
    ScheduleOverride,
    Team,
)
from app.services import roster_edits
from app.services.roster_rules import RosterRules
from app.views.pages import PageContext, registered_pages
from app.views.roster_page import RosterPage

LONDON = ZoneInfo("Europe/London")
#: Monday 23 November 2026, 12:00 UTC (London is on UTC in November).
NOW = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)
MONDAY = dt.date(2026, 11, 23)
H = dt.timedelta(hours=1)


@pytest.fixture
def roster_db(db):
    """Four people taking 8-hour turns (on Monday 23rd: Ana 06-14, Ben 14-22, Cleo 22-06,
    then Dev 06-14, Ana 14-22, Ben 22-06 on Tuesday, ...), Eve in the team but not the rota, a one-person schedule, and
    an escalation policy."""
    with db.transaction() as s:
        s.add(Country(code="GB", name="United Kingdom", timezone="Europe/London"))
        names = ("Ana Silva", "Ben Okafor", "Cleo Park", "Dev Rao", "Eve Stone")
        people = [
            Person(name=n, country_code="GB", timezone="Europe/London", is_agent=True)
            for n in names
        ]
        team = Team(name="Operations")
        team.members = people
        s.add_all([team, *people])
        s.flush()
        ops_schedule = OnCallSchedule(name="Ops shifts", team_id=team.id, timezone="Europe/London")
        layer = ScheduleLayer(
            name="Shifts",
            role="primary",
            position=0,
            rotation_start=dt.datetime(2026, 11, 19, 6, tzinfo=LONDON),
            turn_seconds=8 * 3600,
        )
        layer.members = [LayerMember(person_id=p.id, position=k) for k, p in enumerate(people[:4])]
        ops_schedule.layers = [layer]
        tiny = OnCallSchedule(name="Tiny desk", timezone="Europe/London")
        solo = ScheduleLayer(
            name="Solo",
            role="primary",
            position=0,
            rotation_start=dt.datetime(2026, 11, 2, 6, tzinfo=LONDON),
            turn_seconds=86400,
        )
        solo.members = [LayerMember(person_id=people[4].id, position=0)]
        tiny.layers = [solo]
        s.add_all([ops_schedule, tiny])
        s.flush()
        policy = EscalationPolicy(name="Ops escalation", team_id=team.id)
        policy.levels = [
            EscalationLevel(
                level=1,
                label="L1 on call",
                timeout_minutes=15,
                schedule_id=ops_schedule.id,
                layer_role="primary",
            ),
            EscalationLevel(
                level=2, label="L3 team lead", timeout_minutes=30, person_id=people[4].id
            ),
        ]
        s.add(policy)
        s.flush()
        ids = {p.name.split()[0].lower(): p.id for p in people}
        ids |= {"schedule": ops_schedule.id, "tiny": tiny.id, "policy": policy.id}
        ids["layer"] = layer.id
    db.ids = ids
    return db


def open_page(qtbot, db, clock=NOW) -> RosterPage:
    page = RosterPage(PageContext(db, clock=lambda: clock, interactive=False))
    qtbot.addWidget(page)
    page.resize(1400, 900)
    page.show()
    page.activate()
    qtbot.waitUntil(lambda: page.is_loaded() or page.last_error is not None, timeout=10_000)
    assert page.last_error is None
    return page


@pytest.fixture
def page(qtbot, roster_db) -> RosterPage:
    page = open_page(qtbot, roster_db)
    qtbot.waitUntil(lambda: page.escalation.table.rowCount() > 0, timeout=10_000)
    yield page
    if page.change_dialog is not None:
        page.change_dialog.close()


def shift_of(page: RosterPage, person_id: int, start: dt.datetime):
    for s in page.timeline.data.shifts:
        if s.person_id == person_id and s.start == start:
            return s
    raise AssertionError(f"no shift of {person_id} at {start}")


def overrides(db) -> list[ScheduleOverride]:
    with db.session() as s:
        return list(s.scalars(select(ScheduleOverride).order_by(ScheduleOverride.id)))


def test_the_page_is_registered_and_shows_people_rows_and_shifts(page, roster_db):
    spec = next(spec for spec in registered_pages() if spec.key == "roster")
    assert (spec.title, spec.icon, spec.order) == ("Roster", "roster", 40)
    assert page.schedule_box.currentText() == "Ops shifts"
    data = page.timeline.data
    assert [name for _, name in data.people] == ["Ana Silva", "Ben Okafor", "Cleo Park", "Dev Rao"]
    assert len(data.days) == 28 and data.days[0] == MONDAY
    assert {s.source for s in data.shifts} == {"layers"}
    ana = shift_of(page, roster_db.ids["ana"], dt.datetime(2026, 11, 23, 6, tzinfo=dt.UTC))
    assert (ana.end - ana.start) == 8 * H and ana.layer_name == "Shifts"
    assert data.gaps == []
    assert "covered throughout" in page.legend.text()
    rect = page.timeline.rect_of(ana)
    assert rect is not None and rect.width() > 2
    tip = page.timeline.tooltip_at(rect.center())
    assert "Ana Silva" in tip and "2026-11-23 06:00 – 14:00" in tip
    # Fairness: each of the four takes one 8-hour turn in four: 168 h in 28 days.
    assert page.fairness.source.rowCount() == 4
    assert page.fairness.value("Ana Silva", "hours") == "168"
    assert page.fairness.value("Ana Silva", "hours_vs_mean") == "0"


def test_now_on_call_shows_who_covers_each_role_at_the_clock(page, roster_db, qtbot):
    assert [(e.role, e.name) for e in page.now_panel.entries] == [("primary", "Ana Silva")]
    assert "Ana Silva" in page.now_panel.body.text()
    assert page.now_panel.entries[0].until == dt.datetime(2026, 11, 23, 14, tzinfo=dt.UTC)
    later = open_page(qtbot, roster_db, clock=NOW + 4 * H)  # 16:00: Ben's turn
    assert [e.name for e in later.now_panel.entries] == ["Ben Okafor"]


def test_an_override_that_breaks_the_rest_rule_is_refused_then_saved_as_an_exception(
    page, roster_db, qtbot
):
    ids = roster_db.ids
    night = shift_of(page, ids["cleo"], dt.datetime(2026, 11, 23, 22, tzinfo=dt.UTC))
    dialog = page.open_override(ids["ana"], None, night)
    assert dialog is not None and dialog.person.currentData() == ids["ana"]
    qtbot.waitUntil(lambda: dialog.result_check is not None, timeout=10_000)
    sentences = dialog.result_check.violations
    assert not dialog.result_check.ok
    assert any(
        "Ana Silva would have 8 h rest between" in s and "the minimum is 11 h" in s
        for s in sentences
    ), sentences
    assert dialog.violations.count() == len(sentences)
    assert "would break" in dialog.status.text()
    assert not dialog.save_button.isEnabled()

    dialog.request_save()  # refused in the dialog: no exception recorded
    assert "Nothing was saved" in dialog.status.text()
    assert overrides(roster_db) == []

    # The service refuses it too, whatever the dialog does.
    edit = dialog.edit()
    with pytest.raises(roster_edits.RuleBreach, match="would have 8 h rest"):
        with roster_db.transaction() as s:
            roster_edits.save_edit(s, edit)
    assert overrides(roster_db) == []

    dialog.exception.setChecked(True)
    assert not dialog.save_button.isEnabled()  # a reason is required
    dialog.reason.setText("Cleo is ill and nobody else is trained")
    assert dialog.save_button.isEnabled()
    dialog.request_save()
    qtbot.waitUntil(lambda: len(overrides(roster_db)) == 1, timeout=10_000)
    (saved,) = overrides(roster_db)
    assert saved.person_id == ids["ana"]
    assert (saved.starts_at, saved.ends_at) == (night.start, night.end)
    assert "exception to the rules: Cleo is ill and nobody else is trained" in saved.reason
    assert "would have 8 h rest" in saved.reason
    with roster_db.session() as s:
        audit = s.execute(
            select(AuditEntry.action, AuditEntry.field, AuditEntry.new_value).where(
                AuditEntry.entity == "schedule_override"
            )
        ).all()
    assert any(action == "insert" and field is None for action, field, _ in audit)
    assert any(
        field == "rule_exception" and value.startswith("Cleo is ill") for _, field, value in audit
    )
    qtbot.waitUntil(lambda: page.change_dialog is None, timeout=10_000)
    qtbot.waitUntil(
        lambda: any(s.source == "override" for s in page.timeline.data.shifts), timeout=10_000
    )
    assert "with a recorded exception" in page.status.text()
    assert page.overrides.table.rowCount() == 1


def test_a_swap_by_drag_and_dialog_is_checked_and_saved(page, roster_db, qtbot):
    ids = roster_db.ids
    shift = shift_of(page, ids["ben"], dt.datetime(2026, 11, 24, 22, tzinfo=dt.UTC))
    # Dragging Ben's shift onto Dev's row proposes the swap.
    timeline = page.timeline
    start = timeline.rect_of(shift).center().toPoint()
    target = QPoint(start.x(), int(timeline.row_rect(ids["dev"]).center().y()))
    with qtbot.waitSignal(timeline.swap_requested, timeout=2_000) as signal:
        qtbot.mousePress(timeline, Qt.MouseButton.LeftButton, pos=start)
        qtbot.mouseMove(timeline, QPoint(start.x(), start.y() + 10))
        qtbot.mouseMove(timeline, target)
        qtbot.mouseRelease(timeline, Qt.MouseButton.LeftButton, pos=target)
    assert signal.args[0] == shift and signal.args[1] == ids["dev"]
    dialog = page.change_dialog
    assert dialog is not None and dialog.kind == "swap"
    assert dialog.person.currentData() == ids["dev"]
    qtbot.waitUntil(lambda: dialog.result_check is not None, timeout=10_000)
    assert not dialog.result_check.ok  # Dev works 06-14 that day: 8 h rest
    dialog.close()

    # By the dialog: give it to Eve, who is free, instead.
    dialog = page.open_swap(shift, None)
    dialog.set_person(ids["eve"])
    qtbot.waitUntil(
        lambda: dialog.result_check is not None and dialog.edit().person_id == ids["eve"],
        timeout=10_000,
    )
    qtbot.waitUntil(lambda: dialog.save_button.isEnabled(), timeout=10_000)
    assert dialog.result_check.ok and "keeps every working-time rule" in dialog.status.text()
    dialog.request_save()
    qtbot.waitUntil(lambda: len(overrides(roster_db)) == 1, timeout=10_000)
    (saved,) = overrides(roster_db)
    assert saved.person_id == ids["eve"] and saved.layer_id == ids["layer"]
    assert saved.reason.startswith(
        "Swap: Ben Okafor gives the shift Tue 24 Nov 22:00 – Wed 25 Nov 06:00 to Eve Stone"
    )
    qtbot.waitUntil(
        lambda: any(
            s.person_id == ids["eve"] and s.source == "override" for s in page.timeline.data.shifts
        ),
        timeout=10_000,
    )
    assert "Eve Stone" in [name for _, name in page.timeline.data.people]


def test_building_a_roster_shows_a_draft_to_save(page, roster_db, qtbot):
    options = {
        "start": MONDAY,
        "weeks": 1,
        "shift_hours": 8,
        "time_limit": 3.0,
        "rules": RosterRules(),
    }
    handle = page.build_roster(options)
    assert handle is not None and page.cancel_build_button.isVisibleTo(page)
    qtbot.waitUntil(lambda: page.build_handle is None, timeout=30_000)
    assert page.draft is not None, page.banner_text.text()
    assert "Draft roster" in page.banner_text.text()
    shifts = page.timeline.data.shifts
    assert len(shifts) == 21 and {s.source for s in shifts} == {"draft"}
    assert page.timeline.data.draft and not page.timeline.editable
    assert page.save_draft_button.isVisibleTo(page)
    assert page.fairness.source.rowCount() == 4
    assert page.open_override(roster_db.ids["ana"], None, shifts[0]) is None  # draft: read-only

    page.save_draft()
    qtbot.waitUntil(lambda: page.draft is None, timeout=10_000)
    qtbot.waitUntil(
        lambda: {s.source for s in page.timeline.data.shifts} == {"roster"}, timeout=10_000
    )
    with roster_db.session() as s:
        (roster,) = s.scalars(select(Roster)).all()
        assert roster.weeks == 1 and len(roster.shifts) == 21


def test_a_build_with_no_possible_roster_says_why(page, roster_db, qtbot):
    page.schedule_box.setCurrentIndex(page.schedule_box.findData(roster_db.ids["tiny"]))
    qtbot.waitUntil(
        lambda: page.view is not None and page.view.period.schedule_name == "Tiny desk",
        timeout=10_000,
    )
    page.build_roster({"start": MONDAY, "weeks": 1, "time_limit": 3.0})
    qtbot.waitUntil(lambda: page.build_handle is None, timeout=30_000)
    assert page.draft is None
    text = page.banner_text.text()
    assert "No roster exists under these rules" in text and "Eve Stone" in text, text
    with roster_db.session() as s:
        assert s.scalars(select(Roster)).all() == []


def test_the_escalation_editor_saves_and_refuses_bad_input(page, roster_db, qtbot):
    editor = page.escalation
    assert [lv.label for lv in editor.levels()] == ["L1 on call", "L3 team lead"]
    assert editor.table.item(1, 4).text() == "15 min"
    assert not editor.save_button.isEnabled()

    editor.add_level()  # no contact yet
    assert "Level 3 (L3) has no contact" in editor.problems.text()
    assert not editor.save_button.isEnabled()
    combo = editor.table.cellWidget(2, 1)
    combo.setCurrentIndex(combo.findData(f"person:{roster_db.ids['dev']}"))
    spin = editor.table.cellWidget(2, 3)
    spin.setValue(10)  # less than level 2's 30 minutes
    assert "timeouts must not decrease" in editor.problems.text()
    assert not editor.save_button.isEnabled()
    editor.request_save()
    with roster_db.session() as s:
        count = len(s.scalars(select(EscalationLevel)).all())
    assert count == 2

    spin.setValue(60)
    editor.table.item(2, 0).setText("Service manager")
    assert editor.problems.isHidden() and editor.save_button.isEnabled()
    assert editor.table.item(2, 4).text() == "45 min"
    editor.request_save()
    qtbot.waitUntil(lambda: "saved" in page.status.text(), timeout=10_000)
    with roster_db.session() as s:
        rows = s.scalars(select(EscalationLevel).order_by(EscalationLevel.level)).all()
        assert [(r.label, r.timeout_minutes, r.person_id) for r in rows][2] == (
            "Service manager",
            60,
            roster_db.ids["dev"],
        )
        audit = s.scalars(
            select(AuditEntry.action).where(AuditEntry.entity == "escalation_level")
        ).all()
        assert "insert" in audit
    assert editor.policy.version == 2

    # Moving the lead above L1 breaks the rule on timeouts: the service refuses it too.
    editor.table.selectRow(1)
    editor.move_level(-1)
    assert [lv.label for lv in editor.levels()][:2] == ["L3 team lead", "L1 on call"]
    assert "timeouts must not decrease" in editor.problems.text()


def test_the_context_menu_offers_override_and_swap(page, roster_db):
    ids = roster_db.ids
    shift = shift_of(page, ids["ana"], dt.datetime(2026, 11, 23, 6, tzinfo=dt.UTC))
    menu = page.timeline.context_menu(page.timeline.rect_of(shift).center())
    assert [a.text() for a in menu.actions()] == ["Override…", "Swap this shift…"]
    menu.actions()[0].trigger()
    dialog = page.change_dialog
    assert dialog is not None and dialog.kind == "override"
    assert dialog.person.currentData() == ids["ana"]
    assert (dialog.edit().start, dialog.edit().end) == (shift.start, shift.end)


def test_a_schedule_from_a_template_and_the_export(page, roster_db, qtbot, monkeypatch, tmp_path):
    from app.views import roster_page

    ids = roster_db.ids
    asked = {}

    def answer(_parent, people, start, zone):
        asked["people"] = [name for _, name, _ in people]
        return {
            "template": "weekly",
            "name": "Evening desk",
            "people": [ids["eve"], ids["dev"]],
            "start": MONDAY,
            "options": {"timezone": "Europe/London", "handoff": "09:00"},
        }

    monkeypatch.setattr(roster_page, "ask_template", answer)
    page.new_from_template()
    qtbot.waitUntil(lambda: page.schedule_box.currentText() == "Evening desk", timeout=10_000)
    assert "Eve Stone" in asked["people"]
    qtbot.waitUntil(
        lambda: page.view is not None and page.view.period.schedule_name == "Evening desk",
        timeout=10_000,
    )
    assert [name for _, name in page.timeline.data.people] == ["Dev Rao", "Eve Stone"]

    xlsx, ics = tmp_path / "roster.xlsx", tmp_path / "ics"
    monkeypatch.setattr(roster_page, "ask_export", lambda *_: (str(xlsx), str(ics)))
    page.export()
    qtbot.waitUntil(lambda: "written" in page.status.text(), timeout=20_000)
    assert xlsx.exists() and len(list(ics.glob("*.ics"))) == 3


def test_coverage_gaps_show_red_with_the_reason(page, roster_db, qtbot):
    with roster_db.transaction() as s:
        schedule = OnCallSchedule(name="Office hours", timezone="Europe/London")
        layer = ScheduleLayer(
            name="Days",
            role="primary",
            position=0,
            rotation_start=dt.datetime(2026, 11, 2, 9, tzinfo=LONDON),
            turn_seconds=86400,
            restrictions=[{"days": [0, 1, 2, 3, 4], "start": "09:00", "end": "17:00"}],
        )
        layer.members = [LayerMember(person_id=roster_db.ids["eve"], position=0)]
        schedule.layers = [layer]
        s.add(schedule)
        s.flush()
        sid = schedule.id
    page.open_with({"schedule_id": sid})
    qtbot.waitUntil(
        lambda: page.view is not None and page.view.period.schedule_name == "Office hours",
        timeout=10_000,
    )
    gaps = page.timeline.data.gaps
    assert gaps and gaps[0].start == dt.datetime(2026, 11, 23, 0, tzinfo=dt.UTC)
    assert gaps[0].end == dt.datetime(2026, 11, 23, 9, tzinfo=dt.UTC)
    assert "coverage gap" in page.legend.text()
    lane = page.timeline.lane_rect(0)
    x = page.timeline.x_of(dt.datetime(2026, 11, 23, 3, tzinfo=dt.UTC))
    tip = page.timeline.tooltip_at(QPointF(x, lane.center().y()))
    assert "Coverage gap: nobody on call (primary)" in tip and "2026-11-23 00:00 – 09:00" in tip


def test_the_timeline_puts_an_hour_at_the_same_place_in_every_day_across_dst(qtbot):
    from app.views.roster_timeline import RosterTimeline, TimelineData, TimelineLayer, TimelineShift

    berlin = ZoneInfo("Europe/Berlin")
    days = [dt.date(2026, 3, 28), dt.date(2026, 3, 29), dt.date(2026, 3, 30)]

    def local(day, hour):
        return dt.datetime.combine(day, dt.time(hour), berlin).astimezone(dt.UTC)

    shifts = [
        TimelineShift(1, local(d, 9), local(d, 17), 1, "Day", "primary", "layers") for d in days
    ]
    timeline = RosterTimeline()
    qtbot.addWidget(timeline)
    timeline.resize(1000, 300)
    timeline.set_data(
        TimelineData(
            "Europe/Berlin",
            local(days[0], 0),
            local(days[-1] + dt.timedelta(days=1), 0),
            days,
            [(1, "Ana")],
            [TimelineLayer(1, "Day", "primary", 0)],
            shifts,
        )  # fmt: skip
    )
    width = timeline.day_width()
    offsets = [timeline.x_of(s.start) - k * width for k, s in enumerate(shifts)]
    assert offsets[0] == pytest.approx(offsets[1]) == pytest.approx(offsets[2])
    # And back: the x of Sunday 09:00 (CEST) reads as that instant.
    assert timeline.time_at(timeline.x_of(shifts[1].start)) == shifts[1].start
