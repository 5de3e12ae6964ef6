"""The first history schema: runs, instances per run, patches per instance.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "history_runs",
        sa.Column("run_id", sa.String(200), primary_key=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(40), nullable=False),
        sa.Column("imported", sa.Boolean, nullable=False),
        sa.Column("before_json", sa.Text, nullable=False),
        sa.Column("after_json", sa.Text, nullable=False),
    )
    op.create_index("ix_history_runs_started_at", "history_runs", ["started_at"])
    op.create_table(
        "history_instances",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "run_id",
            sa.String(200),
            sa.ForeignKey("history_runs.run_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("instance_id", sa.String(100), nullable=False),
        sa.Column("observed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("platform", sa.String(60), nullable=False),
        sa.Column("patch_group", sa.String(200), nullable=False),
        sa.Column("baseline", sa.String(200), nullable=False),
        sa.Column("outcome", sa.String(40), nullable=False),
        sa.UniqueConstraint("run_id", "instance_id", name="uq_history_instances_run_instance"),
    )
    op.create_index("ix_history_instances_run_id", "history_instances", ["run_id"])
    op.create_table(
        "history_patches",
        sa.Column(
            "instance_row",
            sa.Integer,
            sa.ForeignKey("history_instances.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("patch_id", sa.String(200), primary_key=True),
        sa.Column("state", sa.String(40), nullable=False),
        sa.Column("severity", sa.String(20), nullable=False),
        sa.Column("classification", sa.String(100), nullable=False),
        sa.Column("release_date", sa.Date, nullable=True),
        sa.Column("installed_time", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("history_patches")
    op.drop_table("history_instances")
    op.drop_index("ix_history_runs_started_at", "history_runs")
    op.drop_table("history_runs")
