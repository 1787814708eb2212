"""Vendor scorecards: arithmetic, periods, measured and judged criteria, credits, actions."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from sqlalchemy import select

from app.models import (
    AuditEntry,
    Contract,
    ContractSlaTarget,
    CreditRule,
    Outage,
    ScorecardCriterion,
    ScorecardPeriod,
    ScorecardTemplate,
    Service,
    Vendor,
)
from app.services import scorecards as sc
from app.services.business_time import BusinessCalendar
from app.services.kpi import NA, KpiColumns


def test_linear_scores_run_from_floor_to_target_either_way():
    assert sc.linear_score(95, target=95, floor=60) == 100
    assert sc.linear_score(77.5, target=95, floor=60) == 50
    assert sc.linear_score(50, target=95, floor=60) == 0
    # Lower is better for MTTR: 48 h scores 100, 240 h scores 0.
    assert sc.linear_score(144, target=48, floor=240) == 50
    assert sc.linear_score(20, target=48, floor=240) == 100
    assert sc.linear_score(None, target=48, floor=240) is None


def test_judged_ratings_map_to_quarters_of_a_hundred():
    assert [sc.judged_score(r) for r in (1, 2, 3, 4, 5)] == [0, 25, 50, 75, 100]
    with pytest.raises(ValueError):
        sc.judged_score(6)


def test_volume_costs_a_point_per_percent_above_typical():
    assert sc.volume_score(90, typical=100) == 100
    assert sc.volume_score(117, typical=100) == 83
    assert sc.volume_score(250, typical=100) == 0


def test_weighted_total_leaves_out_criteria_without_data():
    assert sc.weighted_total([(60, 80.0), (40, 100.0)]) == 88.0
    assert sc.weighted_total([(60, None), (40, 100.0)]) == 100.0
    assert sc.weighted_total([(60, None)]) is None


def test_rag_uses_the_thresholds():
    assert sc.rag(85.0, 85, 70) == "green"
    assert sc.rag(84.9, 85, 70) == "amber"
    assert sc.rag(69.9, 85, 70) == "red"
    assert sc.rag(None, 85, 70) is None


def test_quarters():
    q = sc.period_of(dt.date(2026, 11, 24))
    assert (q.label, q.start, q.end) == ("2026-Q4", dt.date(2026, 10, 1), dt.date(2026, 12, 31))
    assert [q[0] for q in sc.previous_quarters(dt.date(2026, 11, 24), 3)] == [
        "2026-Q1", "2026-Q2", "2026-Q3"]  # fmt: skip


def test_measure_vendor_quarter_from_columns():
    hour = 3600
    none = np.iinfo(np.int64).min
    arrays = {
        "vendor": np.array([1, 1, 1, 2]),
        "opened": np.array([0, 10 * hour, 20 * hour, 0]),
        "resolved": np.array([4 * hour, 30 * hour, none, 2 * hour]),
        "resolution_stop": np.array([4 * hour, 30 * hour, none, 2 * hour]),
        "finished": np.array([True, True, False, True]),
        "breached": np.array([False, True, False, False]),
    }
    outage = {"service_id": 7, "started_at": dt.datetime.fromtimestamp(0, dt.UTC),
              "ended_at": dt.datetime.fromtimestamp(36 * 60, dt.UTC)}  # fmt: skip
    m = sc.measure_vendor_quarter(arrays, 1, 0, 100 * hour, [7], [outage])
    assert m["incident_count"] == 3
    assert m["sla_attainment"] == 50.0
    assert m["mttr"] == 12.0  # (4 h + 20 h) / 2
    assert m["availability"] == 99.4  # 36 minutes down in 100 hours


# --- a story world: synthetic KPI columns beside real vendor rows -------------------------


NOW = dt.datetime(2026, 11, 20, 9, tzinfo=dt.UTC)
H = 3600
CRITERIA = [
    ("SLA attainment", "measured", "sla_attainment", 30.0, 95.0, 60.0),
    ("Mean time to resolve (hours)", "measured", "mttr", 20.0, 48.0, 240.0),
    ("Incident volume", "measured", "incident_count", 10.0, None, None),
    ("Service availability", "measured", "availability", 15.0, 99.9, 98.0),
    ("Relationship", "judged", None, 10.0, None, None),
    ("Innovation", "judged", None, 5.0, None, None),
    ("Commercial", "judged", None, 10.0, None, None),
]


def ts(y: int, m: int, d: int, h: int = 0) -> int:
    return int(dt.datetime(y, m, d, h, tzinfo=dt.UTC).timestamp())


def build_world(session) -> dict:
    """Acme (incidents, a contract with targets and a credit rule), Quiet (a contract with
    neither, no incidents) and Orphan (one incident, no contract), plus their columns."""
    template = ScorecardTemplate(name="Standard")
    template.criteria = [
        ScorecardCriterion(position=i, name=n, kind=k, metric=m, weight=w, target=t, floor=f)
        for i, (n, k, m, w, t, f) in enumerate(CRITERIA, 1)
    ]
    acme, quiet, orphan = (
        Vendor(name="Acme Hosting"),
        Vendor(name="Quiet Ltd"),
        Vendor(name="Orphan"),
    )
    hosting = Service(name="Hosting")
    session.add_all([template, acme, quiet, orphan, hosting])
    session.flush()
    ct1 = Contract(
        vendor_id=acme.id,
        reference="CT-1",
        title="Acme hosting",
        starts_on=dt.date(2026, 1, 1),
        ends_on=dt.date(2027, 12, 31),
        monthly_fee=10000,
        currency="EUR",
    )
    ct1.services = [hosting]
    ct1.sla_targets = [
        ContractSlaTarget(metric="resolution", priority=2, target_minutes=480, target_percent=95),
        ContractSlaTarget(metric="availability", target_percent=99.9),
    ]
    ct1.credit_rules = [
        CreditRule(metric="availability", target_percent=99.9, percent_per_point=5, cap_percent=20)
    ]
    ct2 = Contract(
        vendor_id=quiet.id,
        reference="CT-2",
        title="Quiet support",
        starts_on=dt.date(2026, 1, 1),
        ends_on=dt.date(2027, 6, 30),
        monthly_fee=5000,
        currency="EUR",
    )
    down = dt.datetime(2026, 8, 5, 10, tzinfo=dt.UTC)
    outage = Outage(service_id=hosting.id, started_at=down, ended_at=down + dt.timedelta(hours=2))
    session.add_all([ct1, ct2, outage])
    session.flush()
    rows = []  # (id, vendor, opened, resolved)
    # Q3 2026: four incidents, resolved after 24, 48 and 96 hours and one still open.
    for i, (day, hours) in enumerate([(10, 24), (11, 48), (12, 96), (13, None)], start=1):
        opened = ts(2026, 7, day)
        rows.append((i, acme.id, opened, NA if hours is None else opened + hours * H))
    # Three incidents in each of the four quarters before.
    n = 4
    for first in [(2025, 8), (2025, 11), (2026, 2), (2026, 5)]:
        for k in range(3):
            n += 1
            opened = ts(first[0], first[1], 10 + k)
            rows.append((n, acme.id, opened, opened + H))
    n += 1
    rows.append((n, orphan.id, ts(2026, 8, 1), NA))
    ids, vendors, opened, resolved = (np.array(c, dtype=np.int64) for c in zip(*rows, strict=True))
    incidents = {
        "id": ids,
        "vendor_id": vendors,
        "opened_at": opened,
        "resolved_at": resolved,
        "first_response_at": np.full(ids.size, NA, np.int64),
        "end": resolved,
        "priority": np.full(ids.size, 2, np.int64),
        "service_id": np.full(ids.size, hosting.id, np.int64),
        "assignment_group_id": np.full(ids.size, -1, np.int64),
    }
    clock_ids = np.array([1, 2, 3, 4])
    clocks = {
        "incident_id": clock_ids,
        "stopped_at": np.full(4, ts(2026, 7, 20), np.int64),
        "breached": np.array([False, False, True, False]),
        "target": np.full(4, 2, np.int8),
        "pos": clock_ids - 1,
    }
    outages = {
        "service_id": np.array([hosting.id]),
        "started_at": np.array([ts(2026, 8, 5, 10)]),
        "ended_at": np.array([ts(2026, 8, 5, 12)]),
        "incident_id": np.array([1]),
    }
    changes = {
        "id": np.array([10, 11]),
        "opened_at": np.array([ts(2026, 7, 1)] * 2),
        "done_at": np.array([ts(2026, 7, 2)] * 2),
        "service_id": np.array([hosting.id] * 2),
        "assignment_group_id": np.array([-1, -1]),
        "vendor_id": np.array([acme.id] * 2),
        "implemented": np.array([True, True]),
        "success": np.array([True, False]),
        "emergency": np.array([False, False]),
    }
    cols = KpiColumns(
        incidents,
        clocks,
        {},
        outages,
        changes,
        np.array([hosting.id]),
        BusinessCalendar.always(),
        "24x7",
        caused_by=np.array([[2, 11]], dtype=np.int64),
    )
    session.commit()
    return {"cols": cols, "acme": acme.id, "quiet": quiet.id, "orphan": orphan.id,
            "template": template.id, "service": hosting.id}  # fmt: skip


@pytest.fixture
def world(db):
    with db.session() as s:
        w = build_world(s)
    with db.session() as s:
        yield s, w


def test_periods_are_quarters_or_months():
    q = sc.parse_period("2026-Q3")
    assert (q.label, q.start, q.end) == ("2026-Q3", dt.date(2026, 7, 1), dt.date(2026, 9, 30))
    assert [m.label for m in q.months()] == ["2026-07", "2026-08", "2026-09"]
    assert q.shifted(-3).label == "2025-Q4" and q.shifted(2).label == "2027-Q1"
    m = sc.parse_period(" 2026-12 ")
    assert (m.start, m.end, m.shifted(1).label) == (
        dt.date(2026, 12, 1),
        dt.date(2026, 12, 31),
        "2027-01",
    )
    assert [p.label for p in sc.trend_periods("2026-Q1", 3)] == ["2025-Q3", "2025-Q4", "2026-Q1"]
    for bad in ("2026-Q5", "2026-13", "Q3 2026", "2026-W40", ""):
        with pytest.raises(sc.ScorecardError, match="quarter like 2026-Q3"):
            sc.parse_period(bad)


def test_acme_scorecard_from_incidents_clocks_and_outages(world):
    s, w = world
    sc.set_judged_score(s, w["acme"], "2026-Q3", "Relationship", 4, "Responsive account team")
    sc.set_judged_score(s, w["acme"], "2026-Q3", "innovation", 3)
    card = sc.scorecard(w["cols"], s, w["acme"], "2026-Q3", now=NOW)
    got = {c.name: (c.value, c.score) for c in card.criteria}
    # 3 of 4 SLA clocks achieved: 75% between floor 60 and target 95.
    assert got["SLA attainment"] == (75.0, 42.9)
    # (24 + 48 + 96) / 3 = 56 h between 48 (100) and 240 (0).
    assert got["Mean time to resolve (hours)"] == (56.0, 95.8)
    # 4 incidents against a typical 3 (the four quarters before): 6 would score 0.
    assert got["Incident volume"] == (4.0, 66.7)
    assert "typical 3.0" in card.criterion("incident_count").reason
    # 2 hours down in 92 days.
    assert got["Service availability"] == (99.909, 100.0)
    assert got["Relationship"] == (4.0, 75.0)
    assert card.criterion("Relationship").comment == "Responsive account team"
    commercial = card.criterion("Commercial")
    assert commercial.score is None and "not rated yet" in commercial.reason
    # (30*42.9 + 20*95.8 + 10*66.7 + 15*100 + 10*75 + 5*50) / 90: Commercial is left out.
    assert card.total == 70.8 and card.rag == "amber"
    assert card.incidents == 4 and card.problems == ()
    targets = {(t.metric, t.priority): t for t in card.targets}
    assert targets[("resolution", 2)].ok is False and targets[("resolution", 2)].met == 0
    assert targets[("availability", None)].ok is True
    assert card.service_ids == (w["service"],)


def test_a_quiet_vendor_is_not_measurable_never_zero(world):
    s, w = world
    card = sc.scorecard(w["cols"], s, w["quiet"], "2026-Q3", now=NOW)
    assert card.total is None and card.rag is None
    for c in card.criteria:
        assert c.score is None and c.reason.startswith("not measurable"), c
    assert any("No incidents are attributed to Quiet Ltd" in p for p in card.problems)
    assert any("CT-2 has no SLA targets" in p for p in card.problems)
    assert any("Nothing on the scorecard is measurable" in p for p in card.problems)
    orphan = sc.scorecard(w["cols"], s, w["orphan"], "2026-Q3", now=NOW)
    assert any("no contract covering 2026-Q3" in p for p in orphan.problems)
    assert orphan.criterion("availability").reason.startswith("not measurable: no services")


def test_weights_must_sum_to_100(world):
    s, w = world
    with pytest.raises(sc.ScorecardError, match="sum to 95%, not 100%: nothing was changed"):
        sc.set_weights(s, w["template"], {"Commercial": 5})
    with pytest.raises(sc.ScorecardError, match="0 or more"):
        sc.set_weights(s, w["template"], {"Commercial": -10, "Relationship": 30})
    with pytest.raises(sc.ScorecardError, match="no criterion 'Price'"):
        sc.set_weights(s, w["template"], {"Price": 10})
    version = sc.set_weights(s, w["template"], {"Commercial": 5, "Innovation": 10})
    with pytest.raises(sc.ConflictError):
        sc.set_weights(s, w["template"], {"Commercial": 10, "Innovation": 5}, version - 1)
    # A template edited behind our back that no longer sums to 100 gets no total.
    crit = s.scalar(
        select(ScorecardCriterion).where(
            ScorecardCriterion.name == "Commercial", ScorecardCriterion.template_id == w["template"]
        )
    )
    crit.weight = 20
    s.flush()
    card = sc.scorecard(w["cols"], s, w["acme"], "2026-Q3", now=NOW)
    assert card.total is None and card.weight_sum == 115
    assert "sum to 115%, not 100%" in card.problems[0]


def test_judged_scores_are_whole_numbers_from_1_to_5(world):
    s, w = world
    for bad in (0, 6, 3.5, "x", True, None):
        with pytest.raises(sc.ScorecardError, match="1 to 5"):
            sc.set_judged_score(s, w["acme"], "2026-Q3", "Relationship", bad)
    with pytest.raises(sc.ScorecardError, match="measured from the data"):
        sc.set_judged_score(s, w["acme"], "2026-Q3", "SLA attainment", 3)
    first = sc.set_judged_score(
        s, w["acme"], "2026-Q3", "Relationship", 2, expected_version=0, author="dana"
    )
    assert first.rating == 2
    with pytest.raises(sc.ConflictError, match="rated 2 of 5"):
        sc.set_judged_score(s, w["acme"], "2026-Q3", "Relationship", 5, expected_version=0)
    again = sc.set_judged_score(
        s, w["acme"], "2026-Q3", "Relationship", 5, "better", expected_version=first.version
    )
    assert again.version == first.version + 1
    who = s.scalars(select(AuditEntry.username).where(AuditEntry.entity == "scorecard_score"))
    assert "dana" in set(who)


def test_rag_thresholds_are_editable(world):
    s, w = world
    sc.set_judged_score(s, w["acme"], "2026-Q3", "Relationship", 4)
    sc.set_judged_score(s, w["acme"], "2026-Q3", "Innovation", 3)
    sc.set_rag_thresholds(s, w["template"], 75, 60)
    card = sc.scorecard(w["cols"], s, w["acme"], "2026-Q3", now=NOW)
    assert (card.total, card.rag, card.green_min) == (70.8, "amber", 75)
    sc.set_rag_thresholds(s, w["template"], 70, 50)
    assert sc.scorecard(w["cols"], s, w["acme"], "2026-Q3", now=NOW).rag == "green"
    for green, amber in ((70, 70), (101, 50), (50, -1), ("x", 1)):
        with pytest.raises(sc.ScorecardError):
            sc.set_rag_thresholds(s, w["template"], green, amber)


def test_credits_show_each_month_of_the_calculation(world):
    s, w = world
    for cols in (w["cols"], None):  # from the columns, or by SQL
        calc = sc.credits(s, w["acme"], "2026-Q3", cols, now=NOW)
        assert [line.month for line in calc.lines] == ["2026-07", "2026-08", "2026-09"]
        aug = calc.lines[1]
        # 2 hours down in August's 744 hours: 99.731%, 0.17 points below 99.9.
        assert (aug.measured, aug.points_below, aug.credit_percent, aug.amount) == (
            99.731,
            0.17,
            0.85,
            85.0,
        )
        assert "0.17 points below the 99.9% target" in aug.text
        assert "EUR 10,000.00 = EUR 85.00" in aug.text
        assert "meets the 99.9% target: no credit" in calc.lines[0].text
        assert calc.totals == {"EUR": 85.0} and calc.total == 85.0
        assert calc.steps[-1] == "Total credits owed for 2026-Q3: EUR 85.00."
    quiet = sc.credits(s, w["quiet"], "2026-Q3", w["cols"], now=NOW)
    assert quiet.lines == () and "CT-2 has no service-credit rule" in quiet.steps[0]
    orphan = sc.credits(s, w["orphan"], "2026-Q3", w["cols"], now=NOW)
    assert "no contract covering 2026-Q3" in orphan.steps[0]


def test_credit_cap(world):
    s, w = world
    # A whole day down in July: 96.774% is 3.13 points below; 15.6% is capped at 10%.
    rule = s.scalar(select(CreditRule))
    rule.cap_percent = 10
    s.flush()
    cols = w["cols"]
    cols.outages["started_at"] = np.array([ts(2026, 7, 5)])
    cols.outages["ended_at"] = np.array([ts(2026, 7, 6)])
    july = sc.credits(s, w["acme"], "2026-07", cols, now=NOW).lines[0]
    assert (july.measured, july.points_below, july.credit_percent, july.amount) == (
        96.774,
        3.13,
        10.0,
        1000.0,
    )
    assert "(capped)" in july.text


def test_trend_and_many_vendors_in_one_pass(world):
    s, w = world
    history = sc.trend(w["cols"], s, w["acme"], "2026-Q3", now=NOW)
    assert [h.period for h in history][-3:] == ["2026-Q1", "2026-Q2", "2026-Q3"]
    assert len(history) == 8
    assert history[-2].criterion("mttr").value == 1.0
    grid = sc.scorecard_grid(w["cols"], s, sc.trend_periods("2026-Q3"), now=NOW)
    assert len(grid) == 3 * 8
    single = sc.scorecard(w["cols"], s, w["acme"], "2026-Q3", now=NOW)
    assert grid[(w["acme"], "2026-Q3")].criteria == single.criteria
    names = [c.vendor for c in sc.all_scorecards(w["cols"], s, "2026-Q3", now=NOW)]
    assert names == ["Acme Hosting", "Orphan", "Quiet Ltd"]
    with pytest.raises(sc.ScorecardError, match="all be quarters"):
        sc.trend(w["cols"], s, w["acme"], ["2026-Q3", "2026-09"])


def test_evidence_ids_are_the_incidents_behind_each_figure(world):
    s, w = world
    cols, acme = w["cols"], w["acme"]

    def ev(key):
        return sc.evidence_ids(cols, acme, "2026-Q3", key, now=NOW).tolist()

    assert ev("incident_count") == [1, 2, 3, 4]
    assert ev("mttr") == [1, 2, 3]
    assert ev("sla_attainment") == [1, 2, 3, 4]
    assert ev("sla_breached") == [3]
    assert ev("availability") == [1]
    assert ev("change_success") == [2]
    assert sc.evidence_ids(cols, acme, "2026-Q3", "availability", services=[999]).size == 0
    with pytest.raises(sc.ScorecardError, match="unknown criterion"):
        ev("csat")


def test_actions_agreed_at_the_review(world):
    s, w = world
    with pytest.raises(sc.ScorecardError, match="needs a description"):
        sc.add_action(s, w["acme"], "2026-Q2", "  ")
    old = sc.add_action(
        s, w["acme"], "2026-Q2", "Root-cause the August outage", "Acme SDM", dt.date(2026, 7, 31)
    )
    done = sc.add_action(s, w["acme"], "2026-Q2", "Send the capacity plan", "Acme")
    sc.update_action(s, done.id, done.version, status="done")
    new = sc.add_action(
        s, w["acme"], "2026-Q3", "Improvement plan for P2 resolution", "Acme", dt.date(2026, 12, 15)
    )
    items = sc.list_actions(s, w["acme"], "2026-Q3")
    assert [a.id for a in items] == [old.id, new.id]  # the open one of Q2 is carried over
    assert items[0].overdue(NOW.date()) and not items[1].overdue(NOW.date())
    with pytest.raises(sc.ScorecardError, match="open, done, dropped"):
        sc.update_action(s, new.id, status="closed")
    with pytest.raises(sc.ConflictError):
        sc.update_action(s, new.id, new.version + 5, owner="Someone")
    changed = sc.update_action(s, new.id, new.version, owner=" Facilities ", due_on=None)
    assert (changed.owner, changed.due_on, changed.period) == ("Facilities", None, "2026-Q3")


def test_save_scorecard_keeps_the_stored_total_current(world):
    s, w = world
    sc.set_judged_score(s, w["acme"], "2026-Q3", "Relationship", 4)
    sc.set_judged_score(s, w["acme"], "2026-Q3", "Innovation", 3)
    card = sc.scorecard(w["cols"], s, w["acme"], "2026-Q3", now=NOW)
    pid = sc.save_scorecard(s, card)
    row = s.get(ScorecardPeriod, pid)
    assert (row.total, row.rag) == (70.8, "amber")
    # A judged score changed later moves the stored total too.
    sc.set_judged_score(s, w["acme"], "2026-Q3", "Commercial", 5)
    s.refresh(row)
    assert row.total == round((6370 + 1000) / 100, 1)


def test_a_new_database_scores_vendors_with_the_standard_template(db):
    with db.session() as s:
        templates = s.scalars(select(ScorecardTemplate)).all()
        assert [t.name for t in templates] == ["Standard vendor scorecard"]
        [standard] = templates
        assert (standard.green_min, standard.amber_min) == (85.0, 70.0)
        assert sum(c.weight for c in standard.criteria) == 100.0
        assert {c.metric for c in standard.criteria if c.kind == "measured"} == set(
            ("sla_attainment", "mttr", "incident_count", "availability")
        )
    with db.transaction() as s:
        from app.services.vendors import save_vendor

        vendor = save_vendor(s, None, {"name": "Imported Ltd"})
    with db.session() as s:
        cols = KpiColumns.load(s)
        card = sc.scorecard(cols, s, vendor, "2026-Q3", now=NOW)
        assert card.template == "Standard vendor scorecard"


def test_a_new_period_is_scored_on_the_template_its_judged_scores_are_saved_on(world):
    s, w = world
    sc.set_judged_score(s, w["acme"], "2026-Q2", "Relationship", 4)
    newer = ScorecardTemplate(name="Newer")
    newer.criteria = [
        ScorecardCriterion(position=1, name="Relationship", kind="judged", weight=100.0)
    ]
    s.add(newer)
    s.flush()
    # Q3 has no stored card: it is scored, and saved, on the vendor's latest template.
    card = sc.scorecard(w["cols"], s, w["acme"], "2026-Q3", now=NOW)
    assert card.template_id == w["template"]
    saved = sc.set_judged_score(s, w["acme"], "2026-Q3", "Relationship", 3)
    assert saved.rating == 3
    assert sc.scorecard(w["cols"], s, w["acme"], "2026-Q3", now=NOW).template_id == w["template"]
