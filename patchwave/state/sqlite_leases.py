"""Instance leases in a SQLite file: shared by every patchwave process on this machine.

Default file: ``$PATCHWAVE_LEASES``, else ``~/.patchwave/leases.sqlite``. Each acquire and each
release is one IMMEDIATE transaction per batch, so two processes never both take an instance
and releasing 10,000 leases is one commit, not 10,000. Holders beat a heartbeat in table
``holders``; a lease whose holder's heartbeat is older than the staleness is free (the holder
died: a SIGKILLed run must not block the fleet for the lease's whole span). Table ``runs``
holds each run's claim (one process per run, ``patchwave.state.run_claim``): its holder token
and wall-clock heartbeat; a lease records the token of the process that took it, and a process
whose run another process has claimed takes no lease of that run.
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from patchwave.state.holder import RunHolder, held_elsewhere, holder_token
from patchwave.state.leases import Holder, stale_after_default


def default_path() -> Path:
    return Path(os.environ.get("PATCHWAVE_LEASES", Path.home() / ".patchwave" / "leases.sqlite"))


_LIVE = (
    "leases.expires_at > :now AND EXISTS (SELECT 1 FROM holders h"
    " WHERE h.run_id = leases.run_id AND h.heartbeat > :fresh)"
)


class SqliteLeases:
    def __init__(self, path: Path | None = None, stale_after: dt.timedelta | None = None) -> None:
        self.path = path or default_path()
        self.stale_after = stale_after or stale_after_default()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._transaction() as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS leases ("
                " instance_id TEXT PRIMARY KEY, run_id TEXT NOT NULL, expires_at REAL NOT NULL)"
            )
            db.execute(
                "CREATE TABLE IF NOT EXISTS holders (run_id TEXT PRIMARY KEY, heartbeat REAL NOT NULL)"
            )
            db.execute(
                "CREATE TABLE IF NOT EXISTS runs"
                " (run_id TEXT PRIMARY KEY, holder TEXT NOT NULL, heartbeat REAL NOT NULL)"
            )
            columns = {row[1] for row in db.execute("PRAGMA table_info(leases)")}
            if "holder" not in columns:  # a lease file of an earlier version
                db.execute("ALTER TABLE leases ADD COLUMN holder TEXT NOT NULL DEFAULT ''")

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        finally:
            db.close()

    def _bounds(self, now: dt.datetime) -> dict[str, float]:
        return {"now": now.timestamp(), "fresh": (now - self.stale_after).timestamp()}

    @staticmethod
    def _beat(db: sqlite3.Connection, run_id: str, now: dt.datetime) -> None:
        db.execute(
            "INSERT INTO holders (run_id, heartbeat) VALUES (?, ?) ON CONFLICT(run_id)"
            " DO UPDATE SET heartbeat = max(heartbeat, excluded.heartbeat)",
            (run_id, now.timestamp()),
        )

    def acquire(
        self, run_id: str, instance_ids: Sequence[str], now: dt.datetime, until: dt.datetime
    ) -> dict[str, str]:
        refused: dict[str, str] = {}
        token = holder_token()
        with self._transaction() as db:
            if held_elsewhere(self._run_row(db, run_id), self.stale_after):
                return {iid: run_id for iid in instance_ids}  # the run is another live process's
            self._beat(db, run_id, now)
            bounds = self._bounds(now)
            for iid in instance_ids:
                row = db.execute(
                    f"SELECT run_id FROM leases WHERE instance_id = :iid AND run_id != :run AND {_LIVE}",
                    {**bounds, "iid": iid, "run": run_id},
                ).fetchone()
                if row is not None:
                    refused[iid] = row[0]
            db.executemany(
                "INSERT OR REPLACE INTO leases (instance_id, run_id, expires_at, holder) VALUES (?, ?, ?, ?)",
                [(iid, run_id, until.timestamp(), token) for iid in instance_ids if iid not in refused],
            )
        return refused

    def heartbeat(self, run_id: str, now: dt.datetime) -> None:
        with self._transaction() as db:
            self._beat(db, run_id, now)

    def holders(self, instance_ids: Sequence[str], now: dt.datetime) -> dict[str, str]:
        found: dict[str, str] = {}
        with self._transaction() as db:
            bounds = self._bounds(now)
            for iid in instance_ids:
                row = db.execute(
                    f"SELECT run_id FROM leases WHERE instance_id = :iid AND {_LIVE}", {**bounds, "iid": iid}
                ).fetchone()
                if row is not None:
                    found[iid] = row[0]
        return found

    def release(self, run_id: str, instance_ids: Sequence[str]) -> None:
        with self._transaction() as db:
            db.executemany(
                "DELETE FROM leases WHERE instance_id = ? AND run_id = ?",
                [(iid, run_id) for iid in instance_ids],
            )
            self._forget_idle(db)

    @staticmethod
    def _forget_idle(db: sqlite3.Connection) -> None:
        db.execute("DELETE FROM holders WHERE run_id NOT IN (SELECT DISTINCT run_id FROM leases)")

    def list_holders(self) -> list[Holder]:
        """Every run holding leases, with its lease count, heartbeat and latest expiry."""
        with self._transaction() as db:
            rows = db.execute(
                "SELECT l.run_id, count(*), coalesce(h.heartbeat, 0), max(l.expires_at), max(l.holder)"
                " FROM leases l LEFT JOIN holders h ON h.run_id = l.run_id GROUP BY l.run_id"
                " ORDER BY l.run_id"
            ).fetchall()
        stamp = dt.datetime.fromtimestamp
        return [Holder(r[0], r[1], stamp(r[2], dt.UTC), stamp(r[3], dt.UTC), r[4]) for r in rows]

    def release_run(self, run_id: str) -> int:
        """Free every lease a run holds (a run that died); returns how many."""
        with self._transaction() as db:
            count = db.execute("DELETE FROM leases WHERE run_id = ?", (run_id,)).rowcount
            db.execute("DELETE FROM runs WHERE run_id = ?", (run_id,))
            self._forget_idle(db)
        return int(count)

    # one process per run (patchwave.state.run_claim)
    def claim_run(self, run_id: str, holder: str, now: dt.datetime) -> RunHolder | None:
        with self._transaction() as db:
            held = self._run_row(db, run_id)
            if held is not None and held.holder != holder and held.live(now, self.stale_after):
                return held
            db.execute(
                "INSERT OR REPLACE INTO runs (run_id, holder, heartbeat) VALUES (?, ?, ?)",
                (run_id, holder, now.timestamp()),
            )
        return None

    def beat_run(self, run_id: str, holder: str, now: dt.datetime) -> bool:
        with self._transaction() as db:
            changed = db.execute(
                "UPDATE runs SET heartbeat = max(heartbeat, ?) WHERE run_id = ? AND holder = ?",
                (now.timestamp(), run_id, holder),
            ).rowcount
        return bool(changed)

    def release_claim(self, run_id: str, holder: str) -> None:
        with self._transaction() as db:
            db.execute("DELETE FROM runs WHERE run_id = ? AND holder = ?", (run_id, holder))

    def run_holder(self, run_id: str) -> RunHolder | None:
        with self._transaction() as db:
            return self._run_row(db, run_id)

    def list_claims(self) -> list[RunHolder]:
        """Every run claimed by a process (with or without leases)."""
        with self._transaction() as db:
            rows = db.execute("SELECT run_id, holder, heartbeat FROM runs ORDER BY run_id").fetchall()
        return [RunHolder(r[0], r[1], dt.datetime.fromtimestamp(r[2], dt.UTC)) for r in rows]

    @staticmethod
    def _run_row(db: sqlite3.Connection, run_id: str) -> RunHolder | None:
        row = db.execute("SELECT holder, heartbeat FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        return RunHolder(run_id, row[0], dt.datetime.fromtimestamp(row[1], dt.UTC)) if row else None
