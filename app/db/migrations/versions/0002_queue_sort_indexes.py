"""queue sort indexes

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25

Sorting every incident by priority, and the "SLA breached" filter without a state filter,
read an index instead of scanning (measured on 1,000,000 incidents: 258 ms to 13 ms for a
middle window by priority; 264 ms to 146 ms for the first breached window).
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_incident_priority_id", "incident", ["priority", "id"])
    op.create_index("ix_sla_clock_stage_incident", "sla_clock", ["stage", "incident_id"])


def downgrade() -> None:
    op.drop_index("ix_sla_clock_stage_incident", table_name="sla_clock")
    op.drop_index("ix_incident_priority_id", table_name="incident")
