"""Progress reports where work got to and stops it when the user cancels."""

from __future__ import annotations

import pytest

from app.services.progress import Cancelled, Progress


def test_updates_reach_the_callback_until_cancelled():
    seen = []
    progress = Progress(lambda done, total, label: seen.append((done, total, label)))
    progress.update(1, 10, "Loading")
    progress.message("Still loading")
    assert seen == [(1, 10, "Loading"), (1, 10, "Still loading")]
    progress.cancel()
    assert progress.cancelled
    with pytest.raises(Cancelled):
        progress.update(2, 10)
    with pytest.raises(Cancelled):
        progress.check()
    assert len(seen) == 2
