"""Rollout state in the history database (tables of migration 0002), for ``SqlHistoryStore``.

A rollout's state is small and always read and written whole: one row in ``rollouts``, one per
ring in ``rollout_rings``. Writing replaces both in one transaction; ``update`` reads, changes
and writes in one transaction that first writes the rollout's row (a no-op UPDATE), which takes
the row's lock on PostgreSQL and the database's write lock on SQLite (whose driver begins a
transaction only at the first write, so a read first would not be protected): a promote and an
abort from two machines, or a CLI promote racing the paused flow, never interleave.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable

import sqlalchemy as sa

from patchwave.window.rollout import RingState, RolloutState

metadata = sa.MetaData()
rollouts = sa.Table(
    "rollouts",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("frozen_json", sa.Text, nullable=False),
    sa.Column("paused_run", sa.String(64), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
)
rings = sa.Table(
    "rollout_rings",
    metadata,
    sa.Column("rollout", sa.String(64), sa.ForeignKey("rollouts.name", ondelete="CASCADE"), primary_key=True),
    sa.Column("position", sa.Integer, primary_key=True),
    sa.Column("window", sa.String(200), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("run_id", sa.String(200), nullable=False),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("reason", sa.Text, nullable=False),
)


def _when(text: str) -> dt.datetime | None:
    return dt.datetime.fromisoformat(text) if text else None


def _text(value: dt.datetime | None) -> str:
    """SQLite hands datetimes back naive: they were stored as UTC."""
    if value is None:
        return ""
    return (value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)).isoformat()


def write(conn: sa.Connection, state: RolloutState) -> None:
    conn.execute(sa.delete(rings).where(rings.c.rollout == state.name))
    conn.execute(sa.delete(rollouts).where(rollouts.c.name == state.name))
    conn.execute(
        sa.insert(rollouts).values(
            name=state.name,
            status=state.status,
            reason=state.reason,
            frozen_json=json.dumps(state.frozen, sort_keys=True),
            paused_run=state.paused_run,
            updated_at=_when(state.updated_at),
        )
    )
    conn.execute(
        sa.insert(rings),
        [
            {
                "rollout": state.name,
                "position": position,
                "window": ring.window,
                "status": ring.status,
                "run_id": ring.run_id,
                "started_at": _when(ring.started_at),
                "finished_at": _when(ring.finished_at),
                "reason": ring.reason,
            }
            for position, ring in enumerate(state.rings)
        ],
    )


def read(conn: sa.Connection, name: str) -> RolloutState | None:
    row = conn.execute(sa.select(rollouts).where(rollouts.c.name == name)).mappings().first()
    if row is None:
        return None
    ring_rows = conn.execute(
        sa.select(rings).where(rings.c.rollout == name).order_by(rings.c.position)
    ).mappings()
    return RolloutState(
        name=row["name"],
        rings=[
            RingState(
                window=r["window"],
                status=r["status"],
                run_id=r["run_id"],
                started_at=_text(r["started_at"]),
                finished_at=_text(r["finished_at"]),
                reason=r["reason"],
            )
            for r in ring_rows
        ],
        frozen=json.loads(row["frozen_json"]),
        status=row["status"],
        reason=row["reason"],
        updated_at=_text(row["updated_at"]),
        paused_run=row["paused_run"],
    )


def update(
    engine: sa.Engine, name: str, change: Callable[[RolloutState], RolloutState]
) -> RolloutState | None:
    """Read, change and write one rollout's state in one transaction (None: no such rollout)."""
    with engine.begin() as conn:
        conn.execute(sa.update(rollouts).where(rollouts.c.name == name).values(name=rollouts.c.name))
        state = read(conn, name)
        if state is None:
            return None
        changed = change(state)
        write(conn, changed)
        return changed
