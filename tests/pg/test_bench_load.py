"""The multi-client load test (bench/bench_load.py), small, on a real PostgreSQL server.

A short run must lose nothing and raise nothing, and the verifier must catch lost updates
planted behind the journals' back: a field changed without a new version, a write that
bumps the version unseen, and a missing audit row.
"""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text

from bench.bench_load import error_kind, run_load, verify

pytestmark = pytest.mark.pg

CLIENTS, OPS = 3, 40


@pytest.fixture(scope="module")
def loaded(pg_server, tmp_path_factory):
    """One small run (3 clients x 40 operations, with the live-refresh observer)."""
    url = pg_server.create_database("t_bench_load")
    work = tmp_path_factory.mktemp("load") / "journals"
    work.mkdir()
    setup, run, verification = run_load(
        url, clients=CLIENTS, ops=OPS, seed=3, incidents=300, work=work, notify=True
    )
    return url, setup, run, verification


def execute(url: str, sql: str, **params):
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            result = conn.execute(text(sql), params)
            return result.scalar() if result.returns_rows else None
    finally:
        engine.dispose()


def test_a_small_run_loses_nothing(loaded):
    _url, setup, run, verification = loaded
    assert run.client_exit_codes == [0] * CLIENTS
    assert verification.lost == []
    done = sum(len(v) for v in verification.latencies.values()) + len(verification.errors)
    assert done == CLIENTS * OPS
    assert verification.created > 0
    assert verification.audit_rows_checked > 0
    # Every client signs in as its own agent user; the hot set was edited.
    assert setup.users == [f"bench_load_{i:02d}" for i in range(1, CLIENTS + 1)]
    assert verification.counts["update"]["hot"] + verification.counts["state"]["hot"] > 0
    assert run.observer_problem is None
    assert run.refresh_missed == 0


def test_the_verifier_catches_planted_lost_updates(loaded):
    url, setup, _run, _verification = loaded
    first, second = setup.hot_ids[:2]
    # A field changed behind the journals' back, the version left as it was.
    execute(
        url,
        "UPDATE incident SET urgency = CASE urgency WHEN 1 THEN 2 ELSE 1 END WHERE id = :id",
        id=first,
    )
    # A write nobody journaled: a new version (as a blind overwrite would make).
    execute(
        url,
        "UPDATE incident SET short_description = 'overwritten', version = version + 1 "
        "WHERE id = :id",
        id=second,
    )
    # A committed change whose audit row is gone.
    third = execute(
        url,
        "DELETE FROM audit_log WHERE id = (SELECT max(id) FROM audit_log "
        "WHERE entity = 'incident' AND action = 'update' AND id > :floor "
        "AND field IN ('state', 'urgency', 'short_description')) RETURNING entity_id",
        floor=setup.audit_floor,
    )
    assert third is not None
    found = verify(setup, CLIENTS, OPS).lost
    assert any(f"incident {first}: final row differs" in line for line in found), found
    assert any(f"incident {second}: final version" in line for line in found), found
    assert any(f"incident {third}:" in line and "audit row" in line for line in found), found


def test_a_small_run_raises_nothing(loaded):
    _url, _setup, _run, verification = loaded
    kinds = sorted({error_kind(text) for text in verification.errors})
    assert verification.errors == [], kinds
