"""Screenshots: one PNG per registered page, of the asked size, with the page's data on it."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QImage

from app.db.errors import NotADatabase
from app.views import pages
from app.views.screenshot import take_screenshots
from tests import sample_data


def test_every_page_is_saved_at_the_asked_size(sample_db, tmp_path):
    paths = take_screenshots(
        str(sample_db.url.database), tmp_path / "shots", (1200, 800), clock=lambda: sample_data.NOW
    )
    assert [p.name for p in paths] == [
        f"{n:02d}-{spec.key}.png" for n, spec in enumerate(pages.registered_pages(), start=1)
    ]
    assert paths[0].name == "01-today.png"
    for path in paths:
        image = QImage(str(path))
        assert (image.width(), image.height()) == (1200, 800)


def test_a_database_that_cannot_be_opened_raises(tmp_path):
    bad = tmp_path / "bad.db"
    bad.write_text("not a database")
    with pytest.raises(NotADatabase):
        take_screenshots(str(bad), tmp_path / "shots", (1000, 700))


@pytest.mark.parametrize(("theme", "dark"), [("light", False), ("dark", True)])
def test_the_theme_can_be_chosen_and_no_partial_files_are_left(sample_db, tmp_path, theme, dark):
    from PySide6.QtWidgets import QApplication

    from app.views.theme import apply_theme

    out = tmp_path / theme
    try:
        (path,) = take_screenshots(
            str(sample_db.url.database),
            out,
            (1000, 700),
            clock=lambda: sample_data.NOW,
            theme=theme,
        )[:1]
        corner = QImage(str(path)).pixelColor(990, 690)  # window background by the status bar
        assert (corner.lightness() < 128) is dark
        assert sorted(p.name for p in out.iterdir()) == [p.name for p in sorted(out.glob("*.png"))]
    finally:
        apply_theme(QApplication.instance())
