"""standard scorecard template

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25

A database starts with DOMAIN.md's standard vendor scorecard (weights summing to 100%,
RAG green from 85, amber from 70), as it starts with the default priority matrix: vendors
imported from a ServiceNow or Jira export are scored from day one, and the template can be
edited or replaced. A database that already has a template is left as it is.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

NAME = "Standard vendor scorecard"
#: (name, kind, metric, weight, target, floor), as in DOMAIN.md.
CRITERIA = (
    ("SLA attainment", "measured", "sla_attainment", 30.0, 95.0, 60.0),
    ("Mean time to resolve (hours)", "measured", "mttr", 20.0, 48.0, 240.0),
    ("Incident volume", "measured", "incident_count", 10.0, None, None),
    ("Service availability", "measured", "availability", 15.0, 99.9, 98.0),
    ("Relationship", "judged", None, 10.0, None, None),
    ("Innovation", "judged", None, 5.0, None, None),
    ("Commercial", "judged", None, 10.0, None, None),
)

template = sa.table(
    "scorecard_template",
    sa.column("id", sa.Integer),
    sa.column("name", sa.String),
    sa.column("green_min", sa.Double),
    sa.column("amber_min", sa.Double),
    sa.column("version", sa.Integer),
    # Untyped: an ISO text on SQLite (as the models store it), an aware datetime elsewhere.
    sa.column("created_at"),
    sa.column("updated_at"),
)
criterion = sa.table(
    "scorecard_criterion",
    sa.column("template_id", sa.Integer),
    sa.column("position", sa.Integer),
    sa.column("name", sa.String),
    sa.column("kind", sa.String),
    sa.column("metric", sa.String),
    sa.column("weight", sa.Double),
    sa.column("target", sa.Double),
    sa.column("floor", sa.Double),
    sa.column("version", sa.Integer),
)


def upgrade() -> None:
    conn = op.get_bind()
    if conn.execute(sa.select(sa.func.count()).select_from(template)).scalar():
        return
    now: dt.datetime | str = dt.datetime.now(dt.UTC).replace(microsecond=0)
    if conn.dialect.name == "sqlite":
        now = now.strftime("%Y-%m-%dT%H:%M:%S")
    conn.execute(
        template.insert().values(
            name=NAME, green_min=85.0, amber_min=70.0, version=1, created_at=now, updated_at=now
        )
    )
    template_id = conn.execute(sa.select(template.c.id).where(template.c.name == NAME)).scalar()
    conn.execute(
        criterion.insert(),
        [
            {
                "template_id": template_id,
                "position": position,
                "name": name,
                "kind": kind,
                "metric": metric,
                "weight": weight,
                "target": target,
                "floor": floor,
                "version": 1,
            }
            for position, (name, kind, metric, weight, target, floor) in enumerate(CRITERIA, 1)
        ],  # fmt: skip
    )


def downgrade() -> None:
    conn = op.get_bind()
    period = sa.table("scorecard_period", sa.column("template_id", sa.Integer))
    used = sa.select(period.c.template_id).where(period.c.template_id == template.c.id)
    unused = sa.select(template.c.id).where(template.c.name == NAME, ~sa.exists(used))
    ids = [row[0] for row in conn.execute(unused)]
    if ids:
        conn.execute(criterion.delete().where(criterion.c.template_id.in_(ids)))
        conn.execute(template.delete().where(template.c.id.in_(ids)))
