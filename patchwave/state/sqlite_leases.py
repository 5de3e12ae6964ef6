"""Instance leases in a SQLite file: shared by every patchwave process on this machine.

Default file: ``$PATCHWAVE_LEASES``, else ``~/.patchwave/leases.sqlite``. Each acquire is one
IMMEDIATE transaction, so two processes never both take an instance.
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
from collections.abc import Sequence
from pathlib import Path


def default_path() -> Path:
    return Path(os.environ.get("PATCHWAVE_LEASES", Path.home() / ".patchwave" / "leases.sqlite"))


class SqliteLeases:
    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS leases ("
                " instance_id TEXT PRIMARY KEY, run_id TEXT NOT NULL, expires_at REAL NOT NULL)"
            )

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=30, isolation_level=None)

    def acquire(
        self, run_id: str, instance_ids: Sequence[str], now: dt.datetime, until: dt.datetime
    ) -> dict[str, str]:
        refused: dict[str, str] = {}
        db = self._connect()
        try:
            db.execute("BEGIN IMMEDIATE")
            for iid in instance_ids:
                row = db.execute(
                    "SELECT run_id, expires_at FROM leases WHERE instance_id = ?", (iid,)
                ).fetchone()
                if row is not None and row[0] != run_id and row[1] > now.timestamp():
                    refused[iid] = row[0]
                    continue
                db.execute(
                    "INSERT OR REPLACE INTO leases (instance_id, run_id, expires_at) VALUES (?, ?, ?)",
                    (iid, run_id, until.timestamp()),
                )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        finally:
            db.close()
        return refused

    def holders(self, instance_ids: Sequence[str], now: dt.datetime) -> dict[str, str]:
        db = self._connect()
        try:
            found: dict[str, str] = {}
            for iid in instance_ids:
                row = db.execute(
                    "SELECT run_id FROM leases WHERE instance_id = ? AND expires_at > ?",
                    (iid, now.timestamp()),
                ).fetchone()
                if row is not None:
                    found[iid] = row[0]
            return found
        finally:
            db.close()

    def release(self, run_id: str, instance_ids: Sequence[str]) -> None:
        db = self._connect()
        try:
            db.executemany(
                "DELETE FROM leases WHERE instance_id = ? AND run_id = ?",
                [(iid, run_id) for iid in instance_ids],
            )
        finally:
            db.close()
