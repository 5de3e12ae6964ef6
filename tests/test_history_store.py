"""The store itself: retention forgets old runs with their rows; the schema is migrated on open
(an existing database is opened again without loss); on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import sqlalchemy as sa

from patchwave.history.opening import record_run
from patchwave.history.records import InstanceObservation, PatchObservation, RunRecord
from patchwave.history.sqlstore import SqlHistoryStore
from tests.history_pg import postgres  # noqa: F401 - the fixture

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'nested' / 'history.db'}"
    return str(request.getfixturevalue("postgres").new_database())


def run_on(day: int) -> RunRecord:
    at = T0 + dt.timedelta(days=day)
    patch = PatchObservation("ALAS-1", "MISSING", "CRITICAL", "Security", dt.date(2025, 12, 20))
    inst = InstanceObservation("i-0123456789abcdef0", at, "AMAZON_LINUX_2023", "Critical", "b", "", (patch,))
    return RunRecord(f"run-{day}", "scan", "fleet", at, at, "scanned", instances=(inst,))


def test_retention_forgets_old_runs_and_their_rows(url: str) -> None:
    store = SqlHistoryStore(url)
    for day in (0, 10, 20):
        purged = record_run(store, run_on(day), retention_days=15, now=T0 + dt.timedelta(days=day))
    assert purged == 1
    assert [r.run_id for r in store.runs()] == ["run-10", "run-20"]
    with store.engine.connect() as conn:
        assert conn.execute(sa.text("select count(*) from history_instances")).scalar_one() == 2
        assert conn.execute(sa.text("select count(*) from history_patches")).scalar_one() == 2
    store.close()
    again = SqlHistoryStore(url)  # migrations run again on open: nothing lost, nothing doubled
    assert [r.run_id for r in again.runs(since=T0 + dt.timedelta(days=15))] == ["run-20"]
    with again.engine.connect() as conn:
        assert (
            conn.execute(sa.text("select version_num from history_alembic_version")).scalar_one() == "0002"
        )  # head: 0002 added rollouts
    again.close()
