"""kpi targets

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25

The service manager's KPI targets, one row per KPI key, in the KPI's unit (hours for
durations, percent for rates, a score for NPS); NULL means "no target". Seeded with the
defaults of ``app.services.kpi_targets`` as they were when this revision was written.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

DEFAULTS = {
    "mtta": 0.5,
    "mttr": 8.0,
    "mttr_business": 8.0,
    "sla_attainment": 95.0,
    "reopen_rate": 5.0,
    "fcr": 70.0,
    "change_success": 90.0,
    "emergency_ratio": 10.0,
    "csat": 85.0,
    "nps": 30.0,
    "availability": 99.9,
}


def upgrade() -> None:
    table = op.create_table(
        "kpi_target",
        sa.Column("key", sa.String(length=40), nullable=False),
        sa.Column("target", sa.Float(), nullable=True),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_kpi_target")),
    )
    op.bulk_insert(table, [{"key": k, "target": v, "version": 1} for k, v in DEFAULTS.items()])


def downgrade() -> None:
    op.drop_table("kpi_target")
