"""The history store on SQLAlchemy 2: SQLite by default, PostgreSQL by URL.

The one module of the domain floor that imports SQLAlchemy (with the Alembic migrations shipped
beside it, in ``migrations/``). Opening a store runs the migrations up to head, so a newer
patchwave upgrades an older database in place. Core tables, not the ORM: history is written a run
at a time and read back whole, so rows map onto the records of ``records.py`` directly.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections import defaultdict
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig

from patchwave.history import rollouts_sql
from patchwave.history.records import InstanceObservation, PatchObservation, RunRecord
from patchwave.window.rollout import RolloutState

metadata = sa.MetaData()

runs = sa.Table(
    "history_runs",
    metadata,
    sa.Column("run_id", sa.String(200), primary_key=True),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False, index=True),
    sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("status", sa.String(40), nullable=False),
    sa.Column("imported", sa.Boolean, nullable=False),
    sa.Column("before_json", sa.Text, nullable=False),
    sa.Column("after_json", sa.Text, nullable=False),
)
observations = sa.Table(
    "history_instances",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "run_id", sa.String(200), sa.ForeignKey("history_runs.run_id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("instance_id", sa.String(100), nullable=False),
    sa.Column("observed_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("platform", sa.String(60), nullable=False),
    sa.Column("patch_group", sa.String(200), nullable=False),
    sa.Column("baseline", sa.String(200), nullable=False),
    sa.Column("outcome", sa.String(40), nullable=False),
    sa.UniqueConstraint("run_id", "instance_id", name="uq_history_instances_run_instance"),
)
patches = sa.Table(
    "history_patches",
    metadata,
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


def default_url(home: Path) -> str:
    return f"sqlite:///{home / 'history.db'}"


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    """SQLite hands datetimes back naive: they were stored as UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


_MIGRATING = threading.Lock()  # alembic's migration context is module-global: one at a time


def migrate(engine: sa.Engine) -> None:
    """Alembic upgrade to head on this engine (the scripts ship inside the package). One
    thread at a time: a rollout's flow and the CLI answering it may open stores at once."""
    with _MIGRATING:
        _upgrade(engine)


def _upgrade(engine: sa.Engine) -> None:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(resources.files("patchwave.history") / "migrations"))
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "head")


class SqlHistoryStore:
    """HistoryStore on any SQLAlchemy URL (``sqlite:///PATH``, ``postgresql+psycopg://...``)."""

    def __init__(self, url: str) -> None:
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        self.url = url
        self.engine = sa.create_engine(url, future=True)
        if self.engine.dialect.name == "sqlite":
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
        migrate(self.engine)

    def record(self, run: RunRecord) -> None:
        with self.engine.begin() as conn:
            conn.execute(sa.delete(runs).where(runs.c.run_id == run.run_id))
            conn.execute(
                sa.insert(runs).values(
                    run_id=run.run_id,
                    kind=run.kind,
                    name=run.name,
                    started_at=run.started_at,
                    finished_at=run.finished_at,
                    status=run.status,
                    imported=run.imported,
                    before_json=json.dumps(run.before),
                    after_json=json.dumps(run.after),
                )
            )
            for inst in run.instances:
                row = conn.execute(
                    sa.insert(observations)
                    .values(
                        run_id=run.run_id,
                        instance_id=inst.instance_id,
                        observed_at=inst.observed_at,
                        platform=inst.platform,
                        patch_group=inst.patch_group,
                        baseline=inst.baseline,
                        outcome=inst.outcome,
                    )
                    .returning(observations.c.id)
                ).scalar_one()
                if inst.patches:
                    conn.execute(
                        sa.insert(patches),
                        [
                            {
                                "instance_row": row,
                                "patch_id": p.patch_id,
                                "state": p.state,
                                "severity": p.severity,
                                "classification": p.classification,
                                "release_date": p.release_date,
                                "installed_time": p.installed_time,
                            }
                            for p in inst.patches
                        ],
                    )

    def runs(self, since: dt.datetime | None = None) -> list[RunRecord]:
        with self.engine.connect() as conn:
            query = sa.select(runs).order_by(runs.c.started_at, runs.c.run_id)
            if since is not None:
                query = query.where(runs.c.started_at >= since)
            run_rows = conn.execute(query).mappings().all()
            wanted = [r["run_id"] for r in run_rows]
            inst_rows: list[Any] = []
            patch_rows: list[Any] = []
            for start in range(0, len(wanted), 500):
                part = wanted[start : start + 500]
                chunk = (
                    conn.execute(
                        sa.select(observations)
                        .where(observations.c.run_id.in_(part))
                        .order_by(observations.c.id)
                    )
                    .mappings()
                    .all()
                )
                inst_rows.extend(chunk)
                patch_rows.extend(
                    conn.execute(
                        sa.select(patches)
                        .join(observations, observations.c.id == patches.c.instance_row)
                        .where(observations.c.run_id.in_(part))
                        .order_by(patches.c.instance_row, patches.c.patch_id)
                    )
                    .mappings()
                    .all()
                )
        by_instance: dict[int, list[PatchObservation]] = defaultdict(list)
        for p in patch_rows:
            by_instance[p["instance_row"]].append(
                PatchObservation(
                    patch_id=p["patch_id"],
                    state=p["state"],
                    severity=p["severity"],
                    classification=p["classification"],
                    release_date=p["release_date"],
                    installed_time=_utc(p["installed_time"]),
                )
            )
        by_run: dict[str, list[InstanceObservation]] = defaultdict(list)
        for i in inst_rows:
            observed = _utc(i["observed_at"])
            assert observed is not None
            by_run[i["run_id"]].append(
                InstanceObservation(
                    instance_id=i["instance_id"],
                    observed_at=observed,
                    platform=i["platform"],
                    patch_group=i["patch_group"],
                    baseline=i["baseline"],
                    outcome=i["outcome"],
                    patches=tuple(by_instance.get(i["id"], ())),
                )
            )
        result: list[RunRecord] = []
        for r in run_rows:
            started, finished = _utc(r["started_at"]), _utc(r["finished_at"])
            assert started is not None and finished is not None
            result.append(
                RunRecord(
                    run_id=r["run_id"],
                    kind=r["kind"],
                    name=r["name"],
                    started_at=started,
                    finished_at=finished,
                    status=r["status"],
                    imported=bool(r["imported"]),
                    instances=tuple(by_run.get(r["run_id"], ())),
                    before=json.loads(r["before_json"]),
                    after=json.loads(r["after_json"]),
                )
            )
        return result

    def purge(self, before: dt.datetime) -> int:
        with self.engine.begin() as conn:
            old = [r for (r,) in conn.execute(sa.select(runs.c.run_id).where(runs.c.started_at < before))]
            for start in range(0, len(old), 500):
                part = old[start : start + 500]
                rows = sa.select(observations.c.id).where(observations.c.run_id.in_(part))
                conn.execute(sa.delete(patches).where(patches.c.instance_row.in_(rows)))
                conn.execute(sa.delete(observations).where(observations.c.run_id.in_(part)))
                conn.execute(sa.delete(runs).where(runs.c.run_id.in_(part)))
            return len(old)

    def close(self) -> None:
        self.engine.dispose()

    # -- rollouts (tables of migration 0002, patchwave/history/rollouts_sql.py)
    def save_rollout(self, state: RolloutState) -> None:
        with self.engine.begin() as conn:
            rollouts_sql.write(conn, state)

    def rollout(self, name: str) -> RolloutState | None:
        with self.engine.connect() as conn:
            return rollouts_sql.read(conn, name)

    def update_rollout(
        self, name: str, change: Callable[[RolloutState], RolloutState]
    ) -> RolloutState | None:
        return rollouts_sql.update(self.engine, name, change)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """Foreign keys on (cascades), WAL so a reader never blocks a window recording."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()
