"""Workbooks: text never becomes a formula, files appear whole or not at all, tables stream."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from openpyxl import Workbook, load_workbook

from app.services.io.excel import (
    DATETIME_FORMAT,
    Column,
    StreamedWorkbook,
    atomic_output,
    put,
    safe_text,
    save_workbook,
    write_table,
)
from app.services.progress import Cancelled, Progress

BERLIN = ZoneInfo("Europe/Berlin")
HOSTILE = ["=1+1", '=HYPERLINK("http://evil","x")', "+41 22", "-2+3", "@SUM(A1)", "\tx", "\rx"]


def no_formulas(path) -> None:
    wb = load_workbook(path)
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", f"{ws.title}!{cell.coordinate} is a formula"


def test_typed_text_that_looks_like_a_formula_stays_text(tmp_path):
    wb = Workbook()
    ws = wb.active
    for row, text in enumerate(HOSTILE, 1):
        safe_text(ws.cell(row, 1), text)
    put(ws.cell(1, 2), "plain words")
    path = tmp_path / "hostile.xlsx"
    save_workbook(wb, path)

    no_formulas(path)
    back = load_workbook(path).active
    # XML reads a carriage return back as a line feed; either way the cell is text.
    expected = [text.replace("\r", "\n") for text in HOSTILE]
    assert [back.cell(r, 1).value for r in range(1, len(HOSTILE) + 1)] == expected
    assert all(back.cell(r, 1).quotePrefix for r in range(1, len(HOSTILE) + 1))
    assert not back.cell(1, 2).quotePrefix


def test_put_writes_instants_as_dates_in_the_users_zone():
    ws = Workbook().active
    cell = put(ws["A1"], dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC), zone=BERLIN)
    assert cell.value == dt.datetime(2026, 11, 23, 13, 0)
    assert cell.number_format == DATETIME_FORMAT
    assert put(ws["A2"], dt.date(2026, 12, 1)).is_date
    assert put(ws["A3"], 42).data_type == "n"


def test_a_failed_write_leaves_the_old_file_as_it_was(tmp_path):
    path = tmp_path / "report.xlsx"
    path.write_bytes(b"the old report")
    with pytest.raises(RuntimeError), atomic_output(path) as temporary:
        temporary.write_bytes(b"half a rep")
        raise RuntimeError("disk full")
    assert path.read_bytes() == b"the old report"
    assert [p.name for p in tmp_path.iterdir()] == ["report.xlsx"]


def test_a_successful_write_replaces_the_file(tmp_path):
    path = tmp_path / "report.xlsx"
    path.write_bytes(b"old")
    with atomic_output(path) as temporary:
        assert temporary.parent == tmp_path and temporary != path
        temporary.write_bytes(b"new")
    assert path.read_bytes() == b"new"
    assert len(list(tmp_path.iterdir())) == 1


COLUMNS = [
    Column("Number", "text"),
    Column("Description", "text"),
    Column("Priority", "int"),
    Column("Opened", "datetime"),
    Column("Due", "date"),
    Column("Made SLA", "bool"),
    Column("Score", "auto"),
]


def rows(n: int):
    opened = dt.datetime(2026, 11, 1, 8, 30, tzinfo=dt.UTC)
    for i in range(n):
        yield (
            f"INC{i:07d}",
            HOSTILE[i % len(HOSTILE)] if i % 3 == 0 else f"Printer {i} jammed  ",
            i % 5 + 1,
            opened + dt.timedelta(hours=i),
            dt.date(2026, 12, 1),
            i % 2 == 0,
            None if i % 4 == 0 else i / 4,
        )


def test_a_streamed_table_has_a_frozen_bold_header_filter_and_real_cells(tmp_path):
    path = tmp_path / "incidents.xlsx"
    assert write_table(path, COLUMNS, rows(500), title="Incidents", zone=BERLIN) == 500

    no_formulas(path)
    ws = load_workbook(path)["Incidents"]
    assert ws.freeze_panes == "A2"
    assert ws.auto_filter.ref == "A1:G501"
    assert [c.value for c in ws[1]] == [c.header for c in COLUMNS]
    assert all(c.font.b for c in ws[1])
    assert ws["C1"].alignment.horizontal == "right" and ws["A1"].alignment.horizontal is None
    first = [c.value for c in ws[2]]
    assert first[0] == "INC0000000" and first[1] == "=1+1" and ws["B2"].data_type == "s"
    assert ws["B2"].quotePrefix
    assert first[2] == 1 and ws["C2"].data_type == "n"
    assert first[3] == dt.datetime(2026, 11, 1, 9, 30)  # Berlin, naive
    assert ws["D2"].is_date and ws["D2"].number_format == DATETIME_FORMAT
    assert first[4] == dt.datetime(2026, 12, 1) and ws["E2"].number_format == "yyyy-mm-dd"
    assert first[5] is True
    assert first[6] is None and ws["G3"].value == 0.25
    assert ws["B3"].value == "Printer 1 jammed  "
    widths = {c: ws.column_dimensions[c].width for c in "ABCD"}
    assert widths["D"] >= 16 and widths["B"] >= len("Printer 100 jammed") and widths["C"] < 20


def test_control_characters_are_dropped_not_fatal(tmp_path):
    path = tmp_path / "odd.xlsx"
    write_table(path, [Column("Text", "text")], [["bell\x07 and nul\x00"], ["line\nbreak"]])
    ws = load_workbook(path).active
    assert ws["A2"].value == "bell and nul" and ws["A3"].value == "line\nbreak"


def test_an_empty_table_still_has_its_header_and_filter(tmp_path):
    path = tmp_path / "empty.xlsx"
    assert write_table(path, COLUMNS, []) == 0
    ws = load_workbook(path).active
    assert ws.max_row == 1 and ws.auto_filter.ref == "A1:G1"


def test_progress_is_reported_and_cancel_leaves_no_file(tmp_path):
    path = tmp_path / "big.xlsx"
    path.write_bytes(b"yesterday's export")
    seen: list[tuple[int, int]] = []

    def report(done: int, total: int, _label: str) -> None:
        seen.append((done, total))
        if done >= 4_000:
            progress.cancel()

    progress = Progress(report)
    with pytest.raises(Cancelled):
        write_table(path, COLUMNS, rows(10_000), total=10_000, progress=progress)
    assert seen[0] == (0, 10_000) and (2_000, 10_000) in seen
    assert path.read_bytes() == b"yesterday's export"
    assert [p.name for p in tmp_path.iterdir()] == ["big.xlsx"]


def test_several_tables_in_one_workbook(tmp_path):
    book = StreamedWorkbook(zone=dt.UTC)
    book.add_table("First", COLUMNS[:2], [("a", "b")])
    book.add_table("Second", COLUMNS[2:4], [(1, dt.datetime(2026, 1, 1, tzinfo=dt.UTC))])
    book.save(tmp_path / "two.xlsx")
    wb = load_workbook(tmp_path / "two.xlsx")
    assert wb.sheetnames == ["First", "Second"]
    assert wb["Second"]["B2"].value == dt.datetime(2026, 1, 1)


def test_rows_read_back_the_same_whichever_way_they_are_written(tmp_path, monkeypatch):
    fast, slow = tmp_path / "fast.xlsx", tmp_path / "slow.xlsx"
    write_table(fast, COLUMNS, rows(50), zone=BERLIN)
    monkeypatch.setattr("app.services.io.excel._RowSink.write_text", False)
    write_table(slow, COLUMNS, rows(50), zone=BERLIN)
    a, b = load_workbook(fast).active, load_workbook(slow).active
    assert [[c.value for c in r] for r in a.iter_rows()] == [
        [c.value for c in r] for r in b.iter_rows()
    ]
    assert [c.number_format for c in a[2]] == [c.number_format for c in b[2]]
    assert a["B2"].quotePrefix and b["B2"].quotePrefix
