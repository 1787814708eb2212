"""Scorecard arithmetic: criterion scores, the weighted total, RAG and quarters."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from app.services import scorecards as sc


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
    assert sc.quarter_of(dt.date(2026, 11, 24)) == (
        "2026-Q4",
        dt.date(2026, 10, 1),
        dt.date(2026, 12, 31),
    )
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
