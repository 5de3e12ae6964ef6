"""``patchwave leases list|release`` and the resume refusal on the store runs really use: the
DynamoDB lease table config/aws.yaml names (a moto server over HTTP), not a local file."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from typer.testing import CliRunner

from patchwave.aws.dynamodb import DynamoLeases
from patchwave.cli import app
from tests import moto_server
from tests.helpers import ids
from tests.moto_server import clients
from tests.test_shared_stores import aws_yaml, table

moto_url, moto_env = moto_server.moto_url, moto_server.moto_env  # the fixtures
__all__ = ["moto_env", "moto_url", "table"]


def test_leases_list_release_and_resume_refusal_read_the_dynamodb_table(table: str, tmp_path: Path) -> None:
    folder = aws_yaml(tmp_path / "config", {"leases_table": table, "stale_minutes": 5})
    store = DynamoLeases(clients().dynamodb, table, stale_after=dt.timedelta(minutes=5))
    now = dt.datetime.now(dt.UTC)
    dead = ids("f1", 3)
    assert store.acquire("run-dead", dead, now - dt.timedelta(minutes=30), now + dt.timedelta(hours=2)) == {}
    assert store.claim_run("run-dead", "gone-host:41:aa", now - dt.timedelta(minutes=20)) is None
    assert store.claim_run("run-live", "other-host:42:bb", now) is None
    runner = CliRunner()
    env = {"COLUMNS": "250", "PATCHWAVE_LEASES": str(tmp_path / "absent.sqlite")}

    listed = runner.invoke(app, ["leases", "list", "--config", str(folder)], env=env)
    assert listed.exit_code == 0, listed.output
    rows = {line.split()[1]: line for line in listed.output.splitlines() if "run-" in line}
    assert "gone-host:41:aa" in rows["run-dead"] and "stale" in rows["run-dead"] and " 3 " in rows["run-dead"]
    assert "other-host:42:bb" in rows["run-live"] and "live" in rows["run-live"]

    # a resume of the live run is refused from the table, before any fleet call
    refused = runner.invoke(
        app,
        ["run", "--window", "weekly-test", "--config", str(folder), "--fleet", "aws", "--resume", "run-live"],
    )
    assert refused.exit_code == 2
    (line,) = refused.output.strip().splitlines()
    assert "run run-live is held by a live process (other-host:42:bb" in line

    kept = runner.invoke(
        app, ["leases", "release", "--run", "run-dead", "--config", str(folder)], input="n\n"
    )
    assert kept.exit_code == 1 and len(store.items(dead)) == 3
    freed = runner.invoke(app, ["leases", "release", "--run", "run-dead", "--config", str(folder), "--yes"])
    assert freed.exit_code == 0 and "released 3 lease(s) of run run-dead" in freed.output
    assert store.items(dead) == {} and store.run_holder("run-dead") is None
    assert store.run_holder("run-live") is not None  # only the named run is freed
    after = runner.invoke(app, ["leases", "list", "--config", str(folder)], env=env)
    assert "run-dead" not in after.output and "run-live" in after.output


def test_a_bad_aws_yaml_is_one_line(tmp_path: Path) -> None:
    folder = tmp_path / "config"
    folder.mkdir()
    (folder / "aws.yaml").write_text("shared: {leases_table: 'no spaces allowed'}\n")
    result = CliRunner().invoke(app, ["leases", "list", "--config", str(folder)])
    assert result.exit_code == 2
    assert len(result.output.strip().splitlines()) == 1 and "leases_table" in result.output
