"""incident sla columns

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 00:44:38.551348

The due time and stage of the SLA clock the queue shows, kept on the incident row so that
sorting all incidents by SLA walks an index instead of choosing a clock per incident.
Existing databases are filled from their clocks by the queue's rule: among the clocks
that are not canceled, a resolution clock first, a running one (in progress or paused)
before a stopped one, then the one due soonest (no due time last), then the lowest id.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import app.models.base

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# One statement, a row-valued correlated subquery (SQLite 3.15+ and PostgreSQL).
BACKFILL = """
UPDATE incident SET (sla_due_at, sla_stage) = (
    SELECT c.due_at, c.stage
    FROM sla_clock c JOIN sla_definition d ON d.id = c.definition_id
    WHERE c.incident_id = incident.id AND c.stage <> 'canceled'
    ORDER BY CASE WHEN d.target = 'resolution' THEN 0 ELSE 1 END,
             CASE WHEN c.stage IN ('in_progress', 'paused') THEN 0 ELSE 1 END,
             CASE WHEN c.due_at IS NULL THEN 1 ELSE 0 END,
             c.due_at,
             c.id
    LIMIT 1
)
WHERE EXISTS (SELECT 1 FROM sla_clock c WHERE c.incident_id = incident.id)
"""


def upgrade() -> None:
    with op.batch_alter_table("incident", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("sla_due_at", app.models.base.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("sla_stage", sa.String(length=20), nullable=True))

    op.execute(sa.text(BACKFILL))

    with op.batch_alter_table("incident", schema=None) as batch_op:
        batch_op.create_index("ix_incident_sla_due", ["sla_due_at", "id"], unique=False)


def downgrade() -> None:
    # Plain ALTER TABLE ... DROP COLUMN (SQLite 3.35+): a batch copy of the table would drop
    # the old incident table, and with foreign keys on that deletes every clock and event.
    op.drop_index("ix_incident_sla_due", table_name="incident")
    op.drop_column("incident", "sla_stage")
    op.drop_column("incident", "sla_due_at")
