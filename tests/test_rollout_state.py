"""A rollout's state is durable in the history store: a fresh process (a new store object, a CLI
subprocess) reads what another wrote; promote and abort are one transaction each, so racing
promotes promote once; an older database upgrades in place; a legacy JSON state file is
migrated on first read."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from dataclasses import asdict
from pathlib import Path

import pytest
from typer.testing import CliRunner

from patchwave.cli import app
from patchwave.errors import ConfigError
from patchwave.history.sqlstore import SqlHistoryStore
from patchwave.window.rollout import RolloutState, new_state
from tests.test_rollouts import ROOT, config_copy

runner = CliRunner()


def failed_state(name: str = "r") -> RolloutState:
    state = new_state(name, ["ring-a", "ring-b", "ring-c"])
    state.frozen = {"AMAZON_LINUX_2023": ["curl.x86_64", "libcurl.x86_64"], "WINDOWS": ["KB5000001"]}
    first, second = state.rings[:2]
    first.status, first.run_id = "passed", "run-1"
    first.started_at, first.finished_at = "2026-11-29T02:00:00+00:00", "2026-11-30T02:31:00+00:00"
    second.status, second.run_id, second.reason = "failed_gate", "run-2", "success rate 0.50 < 1.00"
    second.started_at, second.finished_at = "2026-11-30T02:31:00+00:00", "2026-11-30T03:10:00+00:00"
    state.status, state.reason = "failed_gate", "ring 2 (ring-b): success rate 0.50 < 1.00"
    state.updated_at, state.paused_run = "2026-11-30T03:10:00+00:00", "6f1c5e0e-0000-4000-8000-000000000000"
    return state


def test_the_state_survives_a_new_store_and_a_fresh_cli_process(tmp_path: Path) -> None:
    folder = config_copy(tmp_path)
    url = f"sqlite:///{tmp_path / 'history.db'}"
    SqlHistoryStore(url).save_rollout(failed_state())
    assert SqlHistoryStore(url).rollout("r") == failed_state()  # every field, a new engine

    aborted = runner.invoke(app, ["rollout", "abort", "r", "--reason", "bad kernel", "--config", str(folder)])
    assert aborted.exit_code == 0, aborted.output
    child = subprocess.run(
        [sys.executable, "-m", "patchwave.cli", "rollout", "status", "r", "--config", str(folder)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=os.environ.copy(),
        timeout=120,
        check=False,
    )
    assert child.returncode == 0, child.stderr
    status = json.loads(child.stdout)
    assert (status["status"], status["reason"]) == ("aborted", "bad kernel")
    assert [r["status"] for r in status["rings"]] == ["passed", "aborted", "aborted"]
    assert status["rings"][0]["run_id"] == "run-1" and status["frozen"] == failed_state().frozen
    missing = runner.invoke(app, ["rollout", "status", "nope", "--config", str(folder)])
    assert missing.exit_code == 2 and "nope" in missing.output


def test_promote_and_abort_are_one_transaction_each(tmp_path: Path) -> None:
    from flows.rollout import mark

    url = f"sqlite:///{tmp_path / 'history.db'}"
    SqlHistoryStore(url).save_rollout(failed_state())
    results: list[str] = []
    barrier = threading.Barrier(6)

    stores = [SqlHistoryStore(url) for _ in range(6)]  # each its own engine, as processes would have

    def promote(who: int) -> None:
        store = stores[who]
        barrier.wait()
        try:
            mark(store, "r", "promoted", f"operator {who}")
            results.append("promoted")
        except ConfigError as exc:
            results.append(str(exc))

    threads = [threading.Thread(target=promote, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert results.count("promoted") == 1, results  # the others found nothing failed any more
    assert all("no ring failed its gate (status running)" in r for r in results if r != "promoted")
    state = SqlHistoryStore(url).rollout("r")
    assert state is not None and [r.status for r in state.rings] == ["passed", "promoted", "pending"]

    def half_then_refuse(state: RolloutState) -> RolloutState:
        state.status = "aborted"
        raise ConfigError("rollout", "name", "r", "refused")

    with pytest.raises(ConfigError):
        SqlHistoryStore(url).update_rollout("r", half_then_refuse)
    assert SqlHistoryStore(url).rollout("r") == state  # nothing half-applied


def test_an_older_history_database_upgrades_and_keeps_its_runs(tmp_path: Path) -> None:
    import sqlalchemy as sa
    from alembic import command
    from alembic.config import Config as AlembicConfig

    from patchwave.history import sqlstore

    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = sa.create_engine(url)
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(ROOT / "patchwave/history/migrations"))
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "0001")  # the schema before rollouts
        connection.execute(
            sa.insert(sqlstore.runs).values(
                run_id="old", kind="window", name="w", started_at=sa.func.now(), finished_at=sa.func.now(),
                status="succeeded", imported=False, before_json="{}", after_json="{}",
            )
        )  # fmt: skip
    assert "rollouts" not in sa.inspect(engine).get_table_names()
    store = SqlHistoryStore(url)
    assert {"rollouts", "rollout_rings"} <= set(sa.inspect(store.engine).get_table_names())
    assert [r.run_id for r in store.runs()] == ["old"]
    store.save_rollout(failed_state("new"))
    assert store.rollout("new") == failed_state("new")


def test_a_legacy_state_file_is_migrated_on_first_read(tmp_path: Path) -> None:
    folder = config_copy(tmp_path)
    reports = tmp_path / "reports"
    legacy = failed_state("old-file")
    legacy.paused_run = ""
    path = reports / ".rollouts" / "old-file.json"
    path.parent.mkdir(parents=True)
    data = asdict(legacy)
    data.pop("paused_run")  # files of the earlier patchwave had no such field
    path.write_text(json.dumps(data))
    common = ["--config", str(folder), "--report-dir", str(reports)]
    first = runner.invoke(app, ["rollout", "status", "old-file", *common])
    assert first.exit_code == 0, first.output
    assert json.loads(first.output)["reason"] == legacy.reason
    assert not path.exists() and path.with_name("old-file.json.migrated").exists()
    again = runner.invoke(app, ["rollout", "status", "old-file", "--config", str(folder)])
    assert json.loads(again.output) == json.loads(first.output)  # from the store now
