"""Review packs and the all-vendors summary, reopened with openpyxl (and LibreOffice)."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess

import pytest
from openpyxl import load_workbook
from openpyxl.chart import BarChart, LineChart

from app.services import review_pack as rp
from app.services import scorecards as sc
from app.services.progress import Cancelled, Progress
from tests.unit.test_scorecards import NOW, build_world


@pytest.fixture
def world(db):
    with db.session() as s:
        w = build_world(s)
    with db.session() as s:
        sc.set_judged_score(s, w["acme"], "2026-Q3", "Relationship", 4, "=cmd|' /C calc'!A0")
        sc.set_judged_score(s, w["acme"], "2026-Q3", "Innovation", 3)
        sc.add_action(s, w["acme"], "2026-Q3", "Improvement plan for P2 resolution", "Acme SDM",
                      dt.date(2026, 12, 15))  # fmt: skip
        s.commit()
        yield s, w


def _rows(ws, first: int, last_col: int) -> list[list]:
    return [
        [ws.cell(r, c).value for c in range(1, last_col + 1)]
        for r in range(first, ws.max_row + 1)
        if ws.cell(r, 1).value is not None
    ]


def _rules(ws) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for cf in ws.conditional_formatting:
        out[str(cf.sqref)] = [f for rule in cf.rules for f in rule.formula]
    return out


def test_review_pack_sheets_formulas_formatting_and_chart(world, tmp_path):
    s, w = world
    out = tmp_path / "acme.xlsx"
    summary = rp.write_review_pack(s, w["cols"], w["acme"], "2026-Q3", out, now=NOW)
    assert summary.path == out and "Acme Hosting" in summary.line()
    wb = load_workbook(out)
    assert wb.sheetnames == list(rp.PACK_SHEETS)

    ws = wb["Scorecard"]
    assert (ws["C4"].value, ws["C5"].value) == (85.0, 70.0)
    rows = {r[0]: r for r in _rows(ws, 8, 12)[:7]}
    assert [r[2] for r in rows.values()] == [30, 20, 10, 15, 10, 5, 10]  # weights as numbers
    sla = rows["SLA attainment"]
    assert (sla[3], sla[6], sla[7]) == (75.0, 95.0, 60.0)  # value, target, floor
    assert sla[8] == "=ROUND(MAX(0,MIN(1,(D8-H8)/(G8-H8)))*100,1)"
    assert rows["Relationship"][5] == 4 and rows["Relationship"][8].startswith(
        "=IF(AND(ISNUMBER(F12)"
    )
    assert rows["Commercial"][5] is None  # not rated: the formula says not measurable
    # A comment that looks like a formula stays text.
    comment = ws["L12"]
    assert comment.value.startswith("=cmd") and comment.data_type == "s" and comment.quotePrefix
    assert ws["A15"].value == "Total" and ws["C15"].value == "=SUM(C8:C14)"
    total = ws["I15"].value
    assert "SUMPRODUCT(C8:C14,I8:I14)/SUMPRODUCT(C8:C14,--ISNUMBER(I8:I14))" in total
    assert total.startswith('=IF(ABS(C15-100)>0.001,"not computed"')
    assert ws["J15"].value.startswith('=IF(ISNUMBER(I15),IF(I15>=$C$4,"Green"')
    rules = _rules(ws)
    assert rules["I8:I15"] == [
        "AND(ISNUMBER(I8),I8>=$C$4)",
        "AND(ISNUMBER(I8),I8>=$C$5,I8<$C$4)",
        "AND(ISNUMBER(I8),I8<$C$5)",
    ]
    assert rules["C15"] == ["ABS(C15-100)>0.001"]
    assert ws.data_validations.dataValidation[0].formula1 == "1"

    cover = wb["Cover"]
    assert cover["A2"].value == "Acme Hosting"
    assert cover["B5"].value == "=Scorecard!I15" and cover["B6"].value == "=Scorecard!J15"
    assert "B5:B6" in _rules(cover)

    tr = wb["Trend"]
    charts = tr._charts
    assert len(charts) == 1 and isinstance(charts[0], LineChart)
    refs = [ser.val.numRef.f for ser in charts[0].series]
    assert refs == ["'Trend'!$C$5:$C$12", "'Trend'!$D$5:$D$12", "'Trend'!$E$5:$E$12"]
    assert tr["A12"].value == "2026-Q3" and "Scorecard!I15" in tr["C12"].value
    assert tr["A11"].value == "2026-Q2" and tr["C11"].value == 100

    targets = _rows(wb["Contract targets"], 5, 9)
    assert [(r[1], r[2], r[8]) for r in targets] == [
        ("availability", "all", "met"), ("resolution", "P2", "missed")]  # fmt: skip

    # The story's clocks live only in its columns; the demo test below lists real ones.
    assert wb["Breached SLAs"]["A5"].value == "No SLA was breached in the period."

    cr = wb["Credits"]
    lines = _rows(cr, 5, 12)
    assert [r[1] for r in lines[:3]] == ["2026-07", "2026-08", "2026-09"]
    assert lines[1][3] == 99.731 and lines[1][9] == 10000
    assert cr["F6"].value == '=IF(ISNUMBER(D6),MAX(0,ROUND(E6-D6,2)),"not measurable")'
    assert cr["I6"].value == '=IF(ISNUMBER(F6),MIN(H6,F6*G6),"")'
    assert cr["L8"].value == "=SUM(L5:L7)"
    words = [c.value for c in cr["A"] if isinstance(c.value, str)]
    assert any("EUR 10,000.00 = EUR 85.00" in t for t in words)
    assert cover["B12"].value == "=Credits!L8"

    actions = _rows(wb["Actions"], 5, 6)
    assert actions[0][1:4] == ["Improvement plan for P2 resolution", "Acme SDM",
                               dt.datetime(2026, 12, 15)]  # fmt: skip


def test_a_vendor_without_data_says_so_in_the_pack(world, tmp_path):
    s, w = world
    out = tmp_path / "quiet.xlsx"
    rp.write_review_pack(s, w["cols"], w["quiet"], "2026-Q3", out, now=NOW)
    wb = load_workbook(out)
    ws = wb["Scorecard"]
    scores = [ws.cell(r, 9).value for r in range(8, 12)]
    assert scores == ["not measurable"] * 4  # measured criteria: text, never 0
    notes = [c.value for c in ws["A"] if isinstance(c.value, str)]
    assert any("No incidents are attributed to Quiet Ltd" in n for n in notes)
    assert wb["Contract targets"]["A5"].value.startswith("No contract of the period has SLA")
    words = [c.value for c in wb["Credits"]["A"] if isinstance(c.value, str)]
    assert any("CT-2 has no service-credit rule" in t for t in words)


def test_summary_workbook(world, tmp_path):
    s, w = world
    out = tmp_path / "all.xlsx"
    rp.write_summary(s, w["cols"], "2026-Q3", out, now=NOW)
    wb = load_workbook(out)
    assert wb.sheetnames == list(rp.SUMMARY_SHEETS)
    ws = wb["Summary"]
    rows = _rows(ws, 8, 11)
    assert [r[0] for r in rows] == ["Acme Hosting", "Orphan", "Quiet Ltd"]
    assert rows[0][1] == 70.8 and rows[0][7] == 85.0
    assert rows[2][1] == "not measurable"
    assert ws["C8"].value.startswith('=IF(ISNUMBER(B8),IF(B8>=$B$4,"Green"')
    assert "B8:C10" in _rules(ws)
    assert isinstance(ws._charts[0], BarChart)
    tr = wb["Trend"]
    assert [c.value for c in tr[4]][1:] == [p.label for p in sc.trend_periods("2026-Q3")]
    assert "B5:I7" in _rules(tr)  # coloured by the Summary sheet's thresholds
    credit = _rows(wb["Credits"], 5, 9)
    assert credit[1][0] == "Acme Hosting" and credit[1][8] == 85.0


def test_cancel_leaves_no_file(world, tmp_path):
    s, w = world
    folder = tmp_path / "out"
    folder.mkdir()
    out = folder / "cancelled.xlsx"
    progress = Progress()

    def stop(done, total, label):
        if label == "Writing the workbook":
            progress.cancel()

    progress._callback = stop
    with pytest.raises(Cancelled):
        rp.write_review_pack(s, w["cols"], w["acme"], "2026-Q3", out, progress, now=NOW)
    assert list(folder.iterdir()) == []


def test_cli_exports_a_pack_and_the_summary(db, tmp_path, capsys):
    from app.cli import main

    with db.session() as s:
        build_world(s)
    url = str(db.url.database)
    out = tmp_path / "pack.xlsx"
    assert main(["export", "scorecards", "--db", url, "--period", "2026-Q3", "--out", str(out),
                 "--vendor", "acme hosting", "--quiet"]) == 0  # fmt: skip
    assert "Review pack of Acme Hosting for 2026-Q3" in capsys.readouterr().out
    assert load_workbook(out).sheetnames == list(rp.PACK_SHEETS)
    assert main(["export", "scorecards", "--db", url, "--period", "2026-Q3", "--out",
                 str(tmp_path / "all.xlsx"), "--quiet"]) == 0  # fmt: skip
    assert main(["export", "scorecards", "--db", url, "--period", "2026-Q9", "--out",
                 str(out)]) == 1  # fmt: skip
    assert "servicedeck: --period: a period is a quarter" in capsys.readouterr().err
    assert main(["export", "scorecards", "--db", url, "--period", "2026-Q3", "--out", str(out),
                 "--vendor", "Nobody"]) == 1  # fmt: skip
    assert "servicedeck: unknown vendor 'Nobody'" in capsys.readouterr().err


def _recalculated(path, tmp_path):
    """The workbook as LibreOffice computes it (formulas evaluated, values cached)."""
    out = tmp_path / "calc"
    subprocess.run(
        ["soffice", "--headless", "--calc", "--convert-to", "xlsx", "--outdir", str(out),
         str(path)],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    return load_workbook(out / path.name, data_only=True)


@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice is not installed")
def test_the_total_moves_when_a_reviewer_changes_a_weight(world, tmp_path):
    s, w = world
    out = tmp_path / "acme.xlsx"
    rp.write_review_pack(s, w["cols"], w["acme"], "2026-Q3", out, now=NOW)
    calc = _recalculated(out, tmp_path)
    card = sc.scorecard(w["cols"], s, w["acme"], "2026-Q3", now=NOW)
    ws = calc["Scorecard"]
    assert ws["I15"].value == card.total == 70.8
    assert ws["J15"].value == "Amber"
    assert [ws.cell(r, 9).value for r in range(8, 15)] == [
        c.score if c.score is not None else "not measurable" for c in card.criteria]  # fmt: skip
    assert calc["Cover"]["B5"].value == 70.8
    assert calc["Credits"]["L8"].value == 85.0
    # The reviewer moves 10 points from SLA attainment to availability and rates Commercial 5.
    wb = load_workbook(out)
    wb["Scorecard"]["C8"] = 20
    wb["Scorecard"]["C11"] = 25
    wb["Scorecard"]["F14"] = 5
    edited = tmp_path / "edited.xlsx"
    wb.save(edited)
    again = _recalculated(edited, tmp_path)["Scorecard"]
    expected = sc.weighted_total([(20, 42.9), (20, 95.8), (10, 66.7), (25, 100.0), (10, 75.0),
                                  (5, 50.0), (10, 100.0)])  # fmt: skip
    assert again["I15"].value == expected == 79.4
    assert again["J15"].value == "Amber"
    # Weights that no longer sum to 100 give a message, not a number.
    wb["Scorecard"]["C8"] = 50
    wb.save(edited)
    broken = _recalculated(edited, tmp_path)["Scorecard"]
    assert broken["I15"].value == "not computed"
    assert broken["K15"].value == "Weights sum to 130%, not 100%: no total until they do"


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from app.db import open_database
    from app.services.demo import create_demo_database
    from app.services.kpi import KpiColumns

    path = tmp_path_factory.mktemp("demo") / "demo.db"
    create_demo_database(str(path), incidents=3000, seed=5, anchor=NOW)
    database = open_database(str(path), create=False)
    with database.session() as s:
        cols = KpiColumns.load(s)
    yield database, cols
    database.dispose()


def test_demo_pack_lists_the_breached_slas(demo, tmp_path):
    database, cols = demo
    with database.session() as s:
        cards = sc.all_scorecards(cols, s, "2026-Q3", now=NOW)
        assert len(cards) == 20 and all(c.total is not None for c in cards)
        worst = min(cards, key=lambda c: c.criterion("sla_attainment").value or 100.0)
        breached = sc.evidence_ids(cols, worst.vendor_id, "2026-Q3", "sla_breached")
        assert breached.size > 0
        out = tmp_path / "worst.xlsx"
        rp.write_review_pack(s, cols, worst.vendor_id, "2026-Q3", out, now=NOW)
        listed = sc.breached_slas(s, cols, worst.vendor_id, "2026-Q3")
    ws = load_workbook(out)["Breached SLAs"]
    rows = _rows(ws, 5, 8)
    assert len(rows) == len(listed) >= breached.size  # a clock per breached target
    assert {r[0] for r in rows} <= {x["number"] for x in listed}
    assert all(isinstance(r[5], dt.datetime) and r[6] > 0 for r in rows)
