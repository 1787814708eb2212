"""KPI targets: defaults, seeded rows, overrides, and which way a target is met."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, select

from app.models import AuditEntry, KpiTargetSetting
from app.services.kpi_targets import DEFAULT_TARGETS, KpiTarget, load_targets, meets, save_target

KEYS = {
    "mtta", "mttr", "mttr_business", "sla_attainment", "reopen_rate", "fcr", "change_success",
    "emergency_ratio", "csat", "nps", "availability",
}  # fmt: skip


def test_defaults_cover_every_kpi_with_a_unit_and_a_direction():
    assert set(DEFAULT_TARGETS) == KEYS
    assert all(k == t.key for k, t in DEFAULT_TARGETS.items())
    assert {t.unit for t in DEFAULT_TARGETS.values()} == {"hours", "%", "score"}
    lower = {k for k, t in DEFAULT_TARGETS.items() if not t.higher_is_better}
    assert lower == {"mtta", "mttr", "mttr_business", "reopen_rate", "emergency_ratio"}
    assert DEFAULT_TARGETS["mtta"].target == 0.5 and DEFAULT_TARGETS["nps"].unit == "score"
    assert DEFAULT_TARGETS["availability"].target == 99.9


def test_the_migration_seeds_the_defaults(db):
    with db.session() as s:
        rows = {r.key: r.target for r in s.scalars(select(KpiTargetSetting))}
        assert rows == {k: t.target for k, t in DEFAULT_TARGETS.items()}
        assert load_targets(s) == DEFAULT_TARGETS


def test_a_database_without_rows_gets_the_defaults(db):
    with db.transaction() as s:
        s.execute(delete(KpiTargetSetting))
    with db.session() as s:
        assert load_targets(s) == DEFAULT_TARGETS


def test_saved_targets_override_and_none_clears(db):
    with db.transaction() as s:
        s.execute(delete(KpiTargetSetting).where(KpiTargetSetting.key == "fcr"))
    with db.transaction() as s:
        save_target(s, "mttr", 6)  # an update of a seeded row
        save_target(s, "fcr", 75.5)  # an insert
        save_target(s, "nps", None)
    with db.session() as s:
        targets = load_targets(s)
        assert targets["mttr"].target == 6.0 and targets["fcr"].target == 75.5
        assert targets["nps"].target is None and targets["nps"].label == "NPS"
        assert s.get(KpiTargetSetting, "mttr").version == 2
        audited = s.scalars(select(AuditEntry).where(AuditEntry.entity == "kpi_target")).all()
        assert {(a.entity_id, a.action) for a in audited} >= {("mttr", "update"), ("fcr", "insert")}


def test_bad_saves_are_refused(db):
    with db.transaction() as s:
        with pytest.raises(KeyError):
            save_target(s, "uptime", 1.0)
        with pytest.raises(ValueError):
            save_target(s, "mttr", float("nan"))


@pytest.mark.parametrize(
    ("higher", "value", "expected"),
    [(True, 95.0, True), (True, 94.9, False), (False, 5.0, True), (False, 5.1, False),
     (True, None, None)],
)  # fmt: skip
def test_meets_follows_the_direction(higher, value, expected):
    target = KpiTarget("x", "X", "%", 95.0 if higher else 5.0, higher)
    assert meets(target, value) is expected


def test_no_target_is_neither_met_nor_missed():
    assert meets(KpiTarget("nps", "NPS", "score", None, True), 40.0) is None
