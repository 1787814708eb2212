"""KPI targets: the defaults, the service manager's overrides (table ``kpi_target``), checks.

A target is in the KPI's unit: hours for durations, percent for rates, a score for NPS.
``meets`` says whether a value reaches it (at or above for higher-is-better KPIs, at or
below otherwise). Per-service availability targets are ``Service.availability_target``;
the ``availability`` target here is the default for a service-wide headline.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import KpiTargetSetting


@dataclass(frozen=True)
class KpiTarget:
    """One KPI's target (None = no target set) and which way is better."""

    key: str
    label: str
    unit: str  # "hours", "%", "score"
    target: float | None
    higher_is_better: bool


def _t(key: str, label: str, unit: str, target: float | None, higher: bool) -> KpiTarget:
    return KpiTarget(key, label, unit, target, higher)


#: Every KPI key with its label, unit and default target, in headline order.
DEFAULT_TARGETS: dict[str, KpiTarget] = {
    t.key: t
    for t in (
        _t("mtta", "MTTA", "hours", 0.5, False),
        _t("mttr", "MTTR", "hours", 8.0, False),
        _t("mttr_business", "MTTR (business hours)", "hours", 8.0, False),
        _t("sla_attainment", "SLA attainment", "%", 95.0, True),
        _t("reopen_rate", "Reopen rate", "%", 5.0, False),
        _t("fcr", "First contact resolution", "%", 70.0, True),
        _t("change_success", "Change success rate", "%", 90.0, True),
        _t("emergency_ratio", "Emergency change ratio", "%", 10.0, False),
        _t("csat", "CSAT", "%", 85.0, True),
        _t("nps", "NPS", "score", 30.0, True),
        _t("availability", "Availability", "%", 99.9, True),
    )
}


def load_targets(session: Session) -> dict[str, KpiTarget]:
    """The defaults with the stored targets over them (rows of unknown keys are ignored)."""
    targets = dict(DEFAULT_TARGETS)
    for row in session.scalars(select(KpiTargetSetting)):
        base = targets.get(row.key)
        if base is not None:
            targets[row.key] = replace(base, target=row.target)
    return targets


def save_target(session: Session, key: str, target: float | None) -> None:
    """Store a KPI's target (None clears it: "no target"); flushed, not committed.

    Raises KeyError for an unknown key and ValueError for a value that is not finite.
    """
    if key not in DEFAULT_TARGETS:
        raise KeyError(f"unknown KPI {key!r}")
    if target is not None:
        target = float(target)
        if target != target or target in (float("inf"), float("-inf")):
            raise ValueError(f"target of {key} must be a finite number")
    row = session.get(KpiTargetSetting, key)
    if row is None:
        session.add(KpiTargetSetting(key=key, target=target))
    else:
        row.target = target
    session.flush()


def meets(target: KpiTarget, value: float | None) -> bool | None:
    """Whether ``value`` reaches the target; None without a value or without a target."""
    if value is None or target.target is None:
        return None
    if target.higher_is_better:
        return value >= target.target
    return value <= target.target
