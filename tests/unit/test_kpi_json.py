"""The KPI JSON: every key present and documented, the values of compute_kpis, plain JSON."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest
from sqlalchemy import select

from app.db import open_database
from app.models import Service
from app.services import kpi_json as kj
from app.services.demo import create_demo_database
from app.services.kpi import KpiColumns, KpiFilter, compute_kpis

README = Path(__file__).resolve().parents[2] / "README.md"
NOW = dt.datetime(2026, 11, 23, 14, 0, tzinfo=dt.UTC)
OCTOBER = KpiFilter(dt.date(2026, 10, 1), dt.date(2026, 10, 31))


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    """A small demo organisation with history up to NOW."""
    path = tmp_path_factory.mktemp("kpi_json") / "demo.db"
    create_demo_database(str(path), incidents=1500, seed=5, anchor=NOW)
    database = open_database(str(path))
    yield database
    database.dispose()


def build(database, filt=OCTOBER):
    with database.session() as s:
        report = compute_kpis(KpiColumns.load(s), filt, now=NOW)
        names = dict(s.execute(select(Service.id, Service.name)).all())
    return report, names, kj.report_to_dict(report, names)


def test_every_key_is_there_and_the_json_is_plain(sample):
    report, _, data = build(sample)
    assert tuple(data) == kj.TOP_KEYS
    assert tuple(data["filter"]) == kj.FILTER_KEYS
    for name in ("current", "previous"):
        period = data[name]
        assert tuple(period) == kj.PERIOD_KEYS
        for key in ("mtta", "mttr", "mttr_business"):
            assert tuple(period[key]) == kj.DURATION_KEYS
        for key in ("sla_attainment", "sla_response", "sla_resolution", "reopen_rate", "fcr",
                    "change_success", "emergency_ratio", "csat"):  # fmt: skip
            assert tuple(period[key]) == kj.RATE_KEYS
        assert period["daily"] and all(tuple(d) == kj.DAY_KEYS for d in period["daily"])
        assert period["availability"]
        assert all(tuple(a) == kj.SERVICE_KEYS for a in period["availability"])
        assert tuple(period["nps"]) == kj.NPS_KEYS
        assert tuple(data["skipped"][name])[: len(kj.SKIPPED_KEYS)] == kj.SKIPPED_KEYS
    # Plain JSON: a round trip changes nothing.
    assert json.loads(json.dumps(data)) == data


def test_every_key_is_documented_in_the_readme():
    text = README.read_text(encoding="utf-8")
    section = text.split("### KPI JSON keys", 1)[1].split("\n### ", 1)[0]
    documented = set(re.findall(r"`([a-z0-9_]+)`", section))
    keys = {
        *kj.TOP_KEYS, *kj.FILTER_KEYS, *kj.PERIOD_KEYS, *kj.DURATION_KEYS, *kj.RATE_KEYS,
        *kj.DAY_KEYS, *kj.SERVICE_KEYS, *kj.NPS_KEYS, *kj.SKIPPED_KEYS,
    }  # fmt: skip
    assert keys - documented == set()


def test_values_are_those_of_compute_kpis(sample):
    report, names, data = build(sample)
    cur = data["current"]
    k = report.current
    assert cur["start"] == "2026-10-01T00:00:00+00:00"
    assert cur["end"] == "2026-11-01T00:00:00+00:00" and cur["days"] == 31
    assert k.mttr.count and k.sla_attainment.denominator and k.csat.denominator
    assert cur["mtta"]["count"] == k.mtta.count and cur["mtta"]["mean_seconds"] == k.mtta.mean
    assert cur["mttr"]["p90_hours"] == pytest.approx(k.mttr.p90 / 3600)
    assert cur["mttr_business"]["median_seconds"] == k.mttr_business.median
    assert cur["sla_attainment"] == {
        "numerator": k.sla_attainment.numerator,
        "denominator": k.sla_attainment.denominator,
        "percent": k.sla_attainment.percent,
    }
    assert [d["date"] for d in cur["daily"]] == [d.isoformat() for d in k.daily.days]
    assert [d["backlog"] for d in cur["daily"]] == k.daily.backlog
    assert [d["age_over_30d"] for d in cur["daily"]] == k.daily.aging["> 30 d"]
    assert cur["arrivals"] == sum(k.daily.arrivals) and cur["backlog_end"] == k.daily.backlog[-1]
    assert cur["reopen_rate"]["percent"] == k.reopen_rate.percent
    assert cur["fcr"]["numerator"] == k.fcr.numerator
    assert cur["change_success"]["denominator"] == k.change_success.denominator
    assert cur["emergency_ratio"]["numerator"] == k.emergency_ratio.numerator
    assert cur["csat"]["percent"] == k.csat.percent
    assert cur["nps"] == {"score": k.nps, "responses": k.nps_responses}
    by_id = {a["service_id"]: a for a in cur["availability"]}
    for a in k.availability:
        row = by_id[a.service_id]
        assert row["service"] == names[a.service_id]
        assert row["availability_percent"] == a.availability_percent
        assert row["mtbf_hours"] == (None if a.mtbf_seconds is None else a.mtbf_seconds / 3600)
    assert data["previous"]["start"] == "2026-08-31T00:00:00+00:00"
    assert data["skipped"]["current"]["mtta"] == k.skipped["mtta"]


def test_the_filter_is_echoed_with_service_names(sample):
    with sample.session() as s:
        email = s.scalar(select(Service.id).where(Service.name == "Email"))
    filt = KpiFilter(dt.date(2026, 10, 1), dt.date(2026, 10, 31), service_ids=[email],
                     priorities=[1, 2])  # fmt: skip
    _, _, data = build(sample, filt)
    assert data["filter"]["services"] == ["Email"] and data["filter"]["priorities"] == [1, 2]
    assert data["filter"]["group_ids"] is None
    assert [a["service"] for a in data["current"]["availability"]] == ["Email"]


def test_no_data_is_null(sample):
    _, _, data = build(sample, KpiFilter(dt.date(2020, 1, 1), dt.date(2020, 1, 31), [-1]))
    cur = data["current"]
    assert cur["mtta"]["mean_hours"] is None and cur["mtta"]["count"] == 0
    assert cur["sla_attainment"]["percent"] is None and cur["nps"]["score"] is None
    assert cur["backlog_end"] == 0 and cur["availability"] == []
    assert "null" in json.dumps(data)
