"""A ``KpiReport`` as plain JSON-ready data: stable keys, documented in README "KPI JSON keys".

Instants and dates are ISO 8601 strings (instants in UTC with ``+00:00``); a value that
cannot be computed (no data) is ``None`` (``null``). Durations are given in seconds and in
hours; rates as numerator, denominator and percent (0-100).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from app.services.kpi import AGING_BUCKETS, Duration, KpiReport, PeriodKpis, Rate

#: Version of the layout below; bumped when a key is renamed or removed.
SCHEMA_VERSION = 1

#: JSON key of each aging bucket of ``app.services.kpi.AGING_BUCKETS``.
AGING_KEYS = dict(
    zip(AGING_BUCKETS, ("age_0_2d", "age_3_7d", "age_8_30d", "age_over_30d"), strict=True)
)

#: Keys of each object, in order (the README documents them; a test keeps the two in step).
DURATION_KEYS = (
    "count",
    "mean_seconds",
    "median_seconds",
    "p90_seconds",
    "mean_hours",
    "median_hours",
    "p90_hours",
)
RATE_KEYS = ("numerator", "denominator", "percent")
DAY_KEYS = ("date", "backlog", *AGING_KEYS.values(), "arrivals", "resolutions")
SERVICE_KEYS = (
    "service_id",
    "service",
    "outages",
    "outage_seconds",
    "outage_hours",
    "availability_percent",
    "mtbf_seconds",
    "mtbf_hours",
)
NPS_KEYS = ("score", "responses")
TOP_KEYS = ("schema_version", "filter", "business_calendar", "current", "previous", "skipped")
FILTER_KEYS = ("start", "end", "service_ids", "services", "group_ids", "vendor_ids", "priorities")
PERIOD_KEYS = (
    "start",
    "end",
    "days",
    "mtta",
    "mttr",
    "mttr_business",
    "sla_attainment",
    "sla_response",
    "sla_resolution",
    "daily",
    "arrivals",
    "resolutions",
    "backlog_end",
    "reopen_rate",
    "fcr",
    "availability",
    "change_success",
    "emergency_ratio",
    "csat",
    "nps",
)
SKIPPED_KEYS = ("mtta", "mttr", "mttr_business", "backlog")


def _hours(seconds: float | None) -> float | None:
    return None if seconds is None else seconds / 3600.0


def duration_dict(d: Duration) -> dict[str, Any]:
    """A duration's count, mean, median and 90th percentile in seconds and hours."""
    return {
        "count": d.count,
        "mean_seconds": d.mean,
        "median_seconds": d.median,
        "p90_seconds": d.p90,
        "mean_hours": _hours(d.mean),
        "median_hours": _hours(d.median),
        "p90_hours": _hours(d.p90),
    }


def rate_dict(r: Rate) -> dict[str, Any]:
    return {"numerator": r.numerator, "denominator": r.denominator, "percent": r.percent}


def _iso(value: dt.date | dt.datetime) -> str:
    return value.isoformat()


def _ids(values: Sequence[int] | None) -> list[int] | None:
    return None if values is None else [int(v) for v in values]


def period_dict(p: PeriodKpis, names: Mapping[int, str]) -> dict[str, Any]:
    """Every KPI of one period (see the README for each key)."""
    d = p.daily
    daily = []
    for i, day in enumerate(d.days):
        row: dict[str, Any] = {"date": day.isoformat(), "backlog": d.backlog[i]}
        for bucket, key in AGING_KEYS.items():
            row[key] = d.aging[bucket][i]
        row["arrivals"] = d.arrivals[i]
        row["resolutions"] = d.resolutions[i]
        daily.append(row)
    availability = [
        {
            "service_id": a.service_id,
            "service": names.get(a.service_id),
            "outages": a.outages,
            "outage_seconds": a.outage_seconds,
            "outage_hours": _hours(a.outage_seconds),
            "availability_percent": a.availability_percent,
            "mtbf_seconds": a.mtbf_seconds,
            "mtbf_hours": _hours(a.mtbf_seconds),
        }
        for a in p.availability
    ]
    return {
        "start": _iso(p.start),
        "end": _iso(p.end),
        "days": (p.end - p.start).total_seconds() / 86_400,
        "mtta": duration_dict(p.mtta),
        "mttr": duration_dict(p.mttr),
        "mttr_business": duration_dict(p.mttr_business),
        "sla_attainment": rate_dict(p.sla_attainment),
        "sla_response": rate_dict(p.sla_response),
        "sla_resolution": rate_dict(p.sla_resolution),
        "daily": daily,
        "arrivals": int(sum(d.arrivals)),
        "resolutions": int(sum(d.resolutions)),
        "backlog_end": d.backlog[-1] if d.backlog else None,
        "reopen_rate": rate_dict(p.reopen_rate),
        "fcr": rate_dict(p.fcr),
        "availability": availability,
        "change_success": rate_dict(p.change_success),
        "emergency_ratio": rate_dict(p.emergency_ratio),
        "csat": rate_dict(p.csat),
        "nps": {"score": p.nps, "responses": p.nps_responses},
    }


def _skipped(p: PeriodKpis) -> dict[str, int]:
    out = {k: int(p.skipped.get(k, 0)) for k in SKIPPED_KEYS}
    out.update({k: int(v) for k, v in p.skipped.items() if k not in out})
    return out


def report_to_dict(report: KpiReport, names: Mapping[int, str]) -> dict[str, Any]:
    """``report`` as JSON-ready data; ``names`` maps service ids to service names."""
    f = report.filter
    return {
        "schema_version": SCHEMA_VERSION,
        "filter": {
            "start": _iso(report.current.start),
            "end": _iso(report.current.end),
            "service_ids": _ids(f.service_ids),
            "services": None
            if f.service_ids is None
            else [names.get(int(i), str(i)) for i in f.service_ids],
            "group_ids": _ids(f.group_ids),
            "vendor_ids": _ids(f.vendor_ids),
            "priorities": _ids(f.priorities),
        },
        "business_calendar": report.business_calendar,
        "current": period_dict(report.current, names),
        "previous": period_dict(report.previous, names),
        "skipped": {"current": _skipped(report.current), "previous": _skipped(report.previous)},
    }
