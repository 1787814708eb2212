"""The CAB calendar widget: periods, keyboard, selection, dragging and tooltips."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtWidgets import QToolTip

from app.services.change_calendar import CalendarChange, CalendarData, WindowOccurrence
from app.services.conflicts import Conflict, ConflictType
from app.views.cab_calendar import CalendarView
from tests.sample_data import NOW

UTC = dt.UTC
BERLIN = ZoneInfo("Europe/Berlin")
SENTENCE = "CHG0000002 also changes mail-01 from 21:00 to 22:00 on 2026-11-24."


def at(day: int, hour: float, month: int = 11) -> dt.datetime:
    return dt.datetime(2026, month, day, tzinfo=UTC) + dt.timedelta(hours=hour)


def item(ident: int, start: dt.datetime, end: dt.datetime, **extra) -> CalendarChange:
    values = {
        "number": f"CHG{ident:07d}",
        "short_description": f"Change {ident}",
        "type": "Normal",
        "state": "Scheduled",
        "risk": "Moderate",
        "service": "Email",
        "group": "Messaging",
        "assignee": None,
        "version": 1,
    }
    values.update(extra)
    return CalendarChange(id=ident, start=start, end=end, **values)


def sample(view: CalendarView) -> CalendarData:
    conflict = Conflict(
        ConflictType.SAME_CI, 1, "change", 2, "CHG0000002", at(24, 21), at(24, 22), SENTENCE
    )
    changes = (
        item(1, at(24, 10), at(24, 12), conflicts=(conflict,)),
        item(2, at(24, 11), at(24, 13), risk="High"),
        item(3, at(26, 8), at(26, 9), risk="Low", state="Closed"),
    )
    windows = (
        WindowOccurrence(1, "maintenance", "Sunday maintenance", at(29, 2), at(29, 6)),
        WindowOccurrence(
            2, "blackout", "Freeze", at(28, 0), at(29, 0), service_id=1, service="Email"
        ),
    )
    start, end = view.period()
    return CalendarData(start, end, NOW, changes, windows)


@pytest.fixture
def view(qtbot):
    calendar = CalendarView(clock=lambda: NOW, zone=UTC)
    qtbot.addWidget(calendar)
    calendar.resize(1200, 800)
    calendar.show()
    qtbot.waitExposed(calendar)
    return calendar


def test_the_month_of_now_is_shown_first_as_a_six_week_grid(view):
    assert view.mode() == "month"
    # November 2026 starts on a Sunday: the grid starts Monday 26 October.
    assert view.period() == (at(26, 0, month=10), at(7, 0, month=12))
    assert view.title.text() == "November 2026"


def test_switching_modes_and_periods_emits_the_ranges_to_load(qtbot, view):
    seen: list[tuple[dt.datetime, dt.datetime]] = []
    view.period_changed.connect(lambda start, end: seen.append((start, end)))
    view.set_mode("week")
    view.next_period()
    view.set_mode("day")
    view.previous_period()
    view.set_mode("agenda")
    view.go_today()
    assert seen == [
        (at(23, 0), at(30, 0)),  # the week of Monday 23 November
        (at(30, 0), at(7, 0, month=12)),  # the next week
        (at(30, 0), at(1, 0, month=12)),  # the day of that week's anchor
        (at(29, 0), at(30, 0)),
        (at(1, 0, month=11), at(1, 0, month=12)),  # the agenda of November 29's month
    ]
    assert view.period() == (at(1, 0), at(1, 0, month=12))


def test_periods_are_the_users_days_in_their_zone(qtbot):
    calendar = CalendarView(clock=lambda: NOW, zone=BERLIN)
    qtbot.addWidget(calendar)
    calendar.set_mode("day")
    # Midnight in Berlin is 23:00 UTC the day before (CET, UTC+1).
    assert calendar.period() == (at(22, 23), at(23, 23))


def test_set_anchor_shows_the_period_containing_it(qtbot, view):
    with qtbot.waitSignal(view.period_changed) as signal:
        view.set_anchor(dt.date(2027, 2, 14))
    assert signal.args == [
        at(1, 0, month=2).replace(year=2027),
        at(15, 0, month=3).replace(year=2027),
    ]
    assert view.title.text() == "February 2027"
    with qtbot.assertNotEmitted(view.period_changed):
        view.set_anchor(dt.date(2027, 2, 20))  # the same month


def test_keyboard_moves_between_periods_and_back_to_today(qtbot, view):
    view.set_mode("week")
    view.setFocus()
    start = view.period()[0]
    qtbot.keyClick(view, Qt.Key.Key_PageDown)
    assert view.period()[0] == start + dt.timedelta(days=7)
    qtbot.keyClick(view, Qt.Key.Key_Right, Qt.KeyboardModifier.AltModifier)
    assert view.period()[0] == start + dt.timedelta(days=14)
    qtbot.keyClick(view, Qt.Key.Key_Left, Qt.KeyboardModifier.AltModifier)
    qtbot.keyClick(view, Qt.Key.Key_PageUp)
    qtbot.keyClick(view, Qt.Key.Key_PageUp)
    assert view.period()[0] == start - dt.timedelta(days=7)
    qtbot.keyClick(view, Qt.Key.Key_T)
    assert view.period()[0] == start


def test_arrows_move_the_selection_and_enter_opens_the_change(qtbot, view):
    view.set_mode("week")
    view.set_data(sample(view))
    view.setFocus()
    selected: list[int] = []
    view.change_selected.connect(selected.append)
    qtbot.keyClick(view, Qt.Key.Key_Down)
    qtbot.keyClick(view, Qt.Key.Key_Right)
    qtbot.keyClick(view, Qt.Key.Key_Right)
    qtbot.keyClick(view, Qt.Key.Key_Up)
    assert selected == [1, 2, 3, 2]
    with qtbot.waitSignal(view.change_activated) as signal:
        qtbot.keyClick(view, Qt.Key.Key_Return)
    assert signal.args == [2]


@pytest.mark.parametrize("mode", ["month", "week", "agenda"])
def test_clicking_selects_and_double_clicking_opens(qtbot, view, mode):
    view.set_mode(mode)
    view.set_data(sample(view))
    canvas = view.current_canvas()
    rect = view.block_rect(2)
    assert rect is not None
    point = rect.center().toPoint()
    with qtbot.waitSignal(view.change_selected) as selected:
        qtbot.mouseClick(canvas, Qt.MouseButton.LeftButton, pos=point)
    assert selected.args == [2] and view.selected_change() == 2
    with qtbot.waitSignal(view.change_activated) as activated:
        qtbot.mouseDClick(canvas, Qt.MouseButton.LeftButton, pos=point)
    assert activated.args == [2]


def test_overlapping_changes_sit_side_by_side(view):
    view.set_mode("week")
    view.set_data(sample(view))
    a, b = view.block_rect(1), view.block_rect(2)
    assert a is not None and b is not None
    assert a.right() <= b.left() and a.top() < b.top()


def test_dragging_a_block_down_moves_it_in_quarter_hours(qtbot, view):
    view.set_mode("week")
    view.set_data(sample(view))
    canvas = view.timeline
    rect = view.block_rect(2)
    assert rect is not None
    start = rect.center().toPoint()
    hour = canvas.minute_y(60)
    # 1 h 20 min down and one day to the right: 1 h 15 min later on the next day.
    end = start + QPoint(round(canvas.column_width()), round(hour * 80 / 60))
    qtbot.mousePress(canvas, Qt.MouseButton.LeftButton, pos=start)
    qtbot.mouseMove(canvas, start + QPoint(0, 10))
    qtbot.mouseMove(canvas, end)
    assert canvas.drag is not None
    with qtbot.waitSignal(view.change_moved) as moved:
        qtbot.mouseRelease(canvas, Qt.MouseButton.LeftButton, pos=end)
    assert moved.args == [2, at(25, 12.25), at(25, 14.25)]
    # The block goes back until the page reloads the data with the new time.
    assert canvas.drag is None and view.block_rect(2) == rect


def test_a_closed_change_does_not_move(qtbot, view):
    view.set_mode("week")
    view.set_data(sample(view))
    canvas = view.timeline
    start = view.block_rect(3).center().toPoint()  # type: ignore[union-attr]
    with qtbot.assertNotEmitted(view.change_moved):
        qtbot.mousePress(canvas, Qt.MouseButton.LeftButton, pos=start)
        qtbot.mouseMove(canvas, start + QPoint(0, 120))
        qtbot.mouseRelease(canvas, Qt.MouseButton.LeftButton, pos=start + QPoint(0, 120))


@pytest.mark.parametrize("mode", ["month", "week", "agenda"])
def test_hovering_a_conflicting_change_tells_its_conflict(qtbot, view, mode):
    view.set_mode(mode)
    view.set_data(sample(view))
    rect = view.block_rect(1)
    assert rect is not None
    text = view.tooltip_at(rect.center())
    assert "CHG0000001" in text and SENTENCE in text
    assert "1 conflict" in text


def test_the_tooltip_event_shows_the_conflict(qtbot, view):
    from PySide6.QtCore import QEvent
    from PySide6.QtGui import QHelpEvent

    view.set_mode("week")
    view.set_data(sample(view))
    canvas = view.timeline
    point = view.block_rect(1).center().toPoint()  # type: ignore[union-attr]
    event = QHelpEvent(QEvent.Type.ToolTip, point, canvas.mapToGlobal(point))
    canvas.event(event)
    qtbot.waitUntil(lambda: SENTENCE in QToolTip.text(), timeout=2000)
    QToolTip.hideText()


def test_hovering_a_window_names_it_and_what_it_covers(view):
    view.set_mode("week")
    view.set_data(sample(view))
    canvas = view.timeline
    # Saturday 28 (column 5) is in the Email freeze; its band is on the column's left edge.
    x = 52 + 5 * canvas.column_width() + 3
    text = view.tooltip_at(QPointF(x, canvas.minute_y(12 * 60)))
    assert "Blackout window" in text and "Freeze" in text and "Email" in text


def test_the_month_shows_more_than_fits_as_a_link_to_the_day(qtbot, view):
    view.resize(900, 500)
    changes = tuple(item(i, at(24, 8 + i / 10), at(24, 9 + i / 10)) for i in range(1, 40))
    start, end = view.period()
    view.set_data(CalendarData(start, end, NOW, changes))
    month = view.month
    index = (dt.date(2026, 11, 24) - month.first).days
    lines = month._lines(index)
    more = lines[-1]
    assert more[1] is None and more[2] == 39 - (len(lines) - 1)
    with qtbot.waitSignal(view.period_changed) as signal:
        qtbot.mouseClick(month, Qt.MouseButton.LeftButton, pos=more[0].center().toPoint())
    assert view.mode() == "day" and signal.args == [at(24, 0), at(25, 0)]


def test_an_empty_period_says_so(view):
    view.set_mode("agenda")
    start, end = view.period()
    view.set_data(CalendarData(start, end, NOW))
    assert view.note.text() == "No changes planned in this period"
    assert view.visible_changes() == []


def test_on_the_day_clocks_go_forward_blocks_sit_at_their_hour_labels(qtbot):
    calendar = CalendarView(clock=lambda: NOW, zone=BERLIN)
    qtbot.addWidget(calendar)
    calendar.resize(1200, 800)
    calendar.set_mode("week")
    calendar.set_anchor(dt.date(2026, 3, 29))  # Sunday: 02:00 CET becomes 03:00 CEST
    nine = dt.datetime(2026, 3, 29, 9, tzinfo=BERLIN).astimezone(UTC)
    friday = dt.datetime(2026, 3, 27, 9, tzinfo=BERLIN).astimezone(UTC)
    start, end = calendar.period()
    changes = (
        item(1, nine, nine + dt.timedelta(hours=2)),
        item(2, friday, friday + dt.timedelta(hours=1)),
    )
    calendar.set_data(CalendarData(start, end, NOW, changes, ()))
    canvas = calendar.timeline
    # 09:00 on the short day is drawn on the 09:00 row (7 h after midnight by the clock).
    assert calendar.block_rect(1).top() == pytest.approx(canvas.minute_y(9 * 60) + 1)
    assert calendar.block_rect(1).height() == pytest.approx(canvas.minute_y(120) - 2)
    # Dragged two days on, from Friday 09:00 CET it lands on Sunday 09:00 CEST.
    moved_start, moved_end = canvas.moved(changes[1], QPointF(2 * canvas.column_width(), 0))
    assert moved_start.astimezone(BERLIN).hour == 9
    assert moved_end - moved_start == dt.timedelta(hours=1)


def test_block_text_breaks_between_words_and_elides_a_word_too_long(qtbot, view):
    from app.views.widgets import wrap_words

    fm = view.fontMetrics()
    width = fm.horizontalAdvance("Upgrade the") + 2
    assert wrap_words(fm, "Upgrade the mail gateway", width, 3) == [
        "Upgrade the",
        "mail",
        "gateway",
    ]
    lines = wrap_words(fm, "Decommissioning-of-legacy-storage arrays", width, 3)
    assert lines[0].endswith("…") and lines[1] == "arrays"
    assert all(fm.horizontalAdvance(line) <= width for line in lines)
    cut = wrap_words(fm, "one two three four five six", fm.horizontalAdvance("three") + 2, 2)
    assert len(cut) == 2 and cut[-1].endswith("…")
    assert wrap_words(fm, "anything", 0, 3) == [] and wrap_words(fm, "a b", 100, 0) == []
