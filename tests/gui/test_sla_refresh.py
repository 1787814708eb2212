"""The window keeps stored SLA clocks current in the background."""

from __future__ import annotations

from sqlalchemy import select, update

from app.models import SlaClock
from app.services.sla_engine import running_clocks
from app.views.sla_refresh import SlaRefresher
from tests import sample_data


def test_a_stale_running_clock_is_brought_up_to_date(sample_db, open_window, qtbot):
    with sample_db.transaction() as s:
        running = s.scalars(select(SlaClock).where(running_clocks())).all()
        assert running, "the sample database has running clocks"
        stale = {"business_elapsed_seconds": 0, "computed_at": None}
        s.execute(update(SlaClock).where(running_clocks()).values(**stale))
    window = open_window(sample_db)
    refresher = window.sla_refresher
    assert isinstance(refresher, SlaRefresher)
    with qtbot.waitSignal(refresher.refreshed, timeout=10_000) as signal:
        refresher.run_now()
    assert signal.args[0] >= len(running)
    with sample_db.session() as s:
        clocks = s.scalars(select(SlaClock).where(running_clocks())).all()
        assert all(c.computed_at == sample_data.NOW for c in clocks)
        assert any(c.business_elapsed_seconds > 0 for c in clocks)


def test_screenshots_and_other_unwatched_windows_do_not_write(sample_db, open_window):
    window = open_window(sample_db, interactive=False)
    assert window.sla_refresher is None
