"""The stores several workers share, against a moto server over HTTP: leases in DynamoDB
(conditional writes, TTL, heartbeat, two processes racing for the same instances) and run
ledgers and reports in S3 (write-ahead round trip, a SIGKILLed writer, two writers of one run)."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest
from typer.testing import CliRunner

from patchwave.aws.dynamodb import DynamoLeases
from patchwave.aws.s3_state import S3Ledger, S3RunStore
from patchwave.cli import app
from tests import moto_server
from tests.helpers import ids
from tests.moto_server import clients, make_bucket

ROOT = Path(__file__).resolve().parent.parent
moto_url, moto_env = moto_server.moto_url, moto_server.moto_env  # the fixtures
NOW = dt.datetime(2026, 11, 29, 2, 0, tzinfo=dt.UTC)
MINUTE = dt.timedelta(minutes=1)


def aws_yaml(folder: Path, shared: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("baselines.yaml", "windows.yaml"):
        (folder / name).write_text((ROOT / "config" / name).read_text())
    (folder / "aws.yaml").write_text(json.dumps({"region": "eu-west-1", "shared": shared}))
    return folder


@pytest.fixture
def table(moto_env: str, tmp_path: Path) -> str:
    """`patchwave setup` creates the lease table (with TTL), and leaves it be the second time."""
    name = f"patchwave-leases-{tmp_path.name[-20:]}".replace("_", "-")
    folder = aws_yaml(tmp_path / "config", {"leases_table": name})
    first = CliRunner().invoke(app, ["setup", "--config", str(folder)])
    assert first.exit_code == 0, first.output
    assert f"lease table {name}: created" in first.output
    again = CliRunner().invoke(app, ["setup", "--config", str(folder)])
    assert f"lease table {name}: exists" in again.output
    ttl = boto3.client("dynamodb").describe_time_to_live(TableName=name)["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}
    return name


def test_setup_refuses_a_bad_table_name_in_one_line(moto_env: str, tmp_path: Path) -> None:
    folder = aws_yaml(tmp_path / "config", {"leases_table": "patchwave no spaces"})
    result = CliRunner().invoke(app, ["setup", "--config", str(folder)])
    assert result.exit_code == 2
    assert "aws.yaml: shared.leases_table = 'patchwave no spaces'" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_leases_conditional_writes_heartbeat_staleness_and_expiry(table: str) -> None:
    stale = dt.timedelta(minutes=5)
    a = DynamoLeases(clients().dynamodb, table, stale_after=stale)
    b = DynamoLeases(clients().dynamodb, table, stale_after=stale)
    first = ids("d5", 3)
    assert a.acquire("run-a", first, NOW, NOW + 60 * MINUTE) == {}
    assert a.acquire("run-a", first, NOW, NOW + 60 * MINUTE) == {}  # ours already: taken again
    assert b.acquire("run-b", first, NOW + MINUTE, NOW + 61 * MINUTE) == dict.fromkeys(first, "run-a")
    assert b.holders(first, NOW + MINUTE) == dict.fromkeys(first, "run-a")

    # a's heartbeat keeps its leases live past the first staleness
    a.heartbeat("run-a", NOW + 4 * MINUTE)
    assert b.acquire("run-b", first, NOW + 8 * MINUTE, NOW + 68 * MINUTE) == dict.fromkeys(first, "run-a")
    # then a goes silent (a SIGKILLed holder): stale after 5 minutes, its leases are free
    assert b.holders(first, NOW + 10 * MINUTE) == {}
    assert b.acquire("run-b", first, NOW + 10 * MINUTE, NOW + 70 * MINUTE) == {}
    # a's next heartbeat finds them lost, and takes nothing back
    a.heartbeat("run-a", NOW + 11 * MINUTE)
    assert a.lost == {"run-a": set(first)}
    a.release("run-a", first)  # never deletes b's
    assert a.holders(first, NOW + 11 * MINUTE) == dict.fromkeys(first, "run-b")
    stored = b.items(first)
    assert {item["expires_at"] for item in stored.values()} == {int((NOW + 70 * MINUTE).timestamp())}  # TTL
    # a holder that keeps beating but never finishes is free at its lease's end all the same
    b.heartbeat("run-b", NOW + 69 * MINUTE)
    assert b.holders(first, NOW + 69 * MINUTE) == dict.fromkeys(first, "run-b")
    assert b.holders(first, NOW + 71 * MINUTE) == {}
    b.release("run-b", first)
    assert b.items(first) == {}


RACER = """
import datetime as dt, json, sys, time
from patchwave.aws.dynamodb import DynamoLeases
from tests.moto_server import clients
run_id, table, start_at, members = sys.argv[1], sys.argv[2], float(sys.argv[3]), json.loads(sys.argv[4])
leases = DynamoLeases(clients().dynamodb, table)
now = dt.datetime.now(dt.UTC)
while time.time() < start_at:
    time.sleep(0.005)
taken = []
for start in range(0, len(members), 5):
    chunk = members[start:start + 5]
    refused = leases.acquire(run_id, chunk, now, now + dt.timedelta(minutes=10))
    taken += [m for m in chunk if m not in refused]
print(json.dumps(taken))
"""


def test_two_processes_racing_for_the_same_instances_never_both_hold_one(table: str, moto_url: str) -> None:
    members = ids("d6", 40)
    env = {**os.environ, "AWS_ENDPOINT_URL": moto_url}
    start_at = time.time() + 3  # both interpreters are up by then on a loaded machine
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, run_id, table, str(start_at), json.dumps(members)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for run_id in ("worker-a", "worker-b")
    ]
    taken = [set(json.loads(racer.communicate(timeout=90)[0])) for racer in racers]
    assert not taken[0] & taken[1]
    assert taken[0] | taken[1] == set(members)
    holders = DynamoLeases(clients().dynamodb, table).holders(members, dt.datetime.now(dt.UTC))
    assert {iid for iid, run in holders.items() if run == "worker-a"} == taken[0]


@pytest.fixture
def bucket(moto_env: str, tmp_path: Path) -> str:
    name = f"pw-state-{tmp_path.name[-20:].lower()}".replace("_", "-")
    make_bucket(name)
    return name


def test_s3_ledger_round_trip_and_two_writers_of_one_run(bucket: str) -> None:
    store = S3RunStore(clients().s3, bucket, "patchwave/state")
    flow_ledger = store.ledger("ignored", "run-1")
    assert flow_ledger.entries() == []
    flow_ledger.append("start", started=NOW, snapshot_id="snap")
    flow_ledger.append("plan", plan={"waves": []})
    wave_ledger = store.reopen(str(flow_ledger.path))  # the wave task, from the location string
    wave_ledger.append("intents", wave="w", commands=[{"token": "t-1", "instance_ids": ["i-1"]}])
    wave_ledger.append("send", wave="w", command_id="c-1", members=["i-1"])  # buffered
    wave_ledger.append("outcome", wave="w", instance_id="i-1", outcome="patched")  # buffered
    assert [e["kind"] for e in store.ledger("x", "run-1").entries()] == ["start", "plan", "intents"]
    wave_ledger.close()
    flow_ledger.append("wave_done", wave="w", result={})  # a stale number: takes the next free one
    flow_ledger.append("finished", status="succeeded")  # the run's last line: stored at once
    entries = store.ledger("x", "run-1").entries()
    kinds = ["start", "plan", "intents", "send", "outcome", "wave_done", "finished"]
    assert [e["kind"] for e in entries] == kinds
    assert entries[0]["started"] == NOW.isoformat()
    keys = [o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=bucket)["Contents"]]
    assert len(keys) == 6 and all(k.startswith("patchwave/state/runs/run-1/") for k in keys)


WRITER = """
import sys
from patchwave.aws.s3_state import S3Ledger
from tests.moto_server import clients
ledger = S3Ledger(clients().s3, sys.argv[1])
for n in range(100000):
    ledger.append("outcome", n=n, note="buffered, not announced")
    ledger.append("intents", n=n)
    print(n, flush=True)  # the work this line announces would start now
"""


def test_a_sigkilled_writer_loses_no_line_that_announced_work(bucket: str, moto_url: str) -> None:
    url = f"s3://{bucket}/patchwave/state/runs/killed"
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, url],
        cwd=ROOT,
        env={**os.environ, "AWS_ENDPOINT_URL": moto_url},
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    announced = -1
    try:
        assert writer.stdout is not None
        while announced < 8:
            line = writer.stdout.readline()
            assert line, "the writer ended before it could be killed"
            announced = int(line)
    finally:
        os.killpg(writer.pid, signal.SIGKILL)
        writer.wait(timeout=30)
    entries = S3Ledger(clients().s3, url).entries()
    sends = [e["n"] for e in entries if e["kind"] == "intents"]
    assert sends[: announced + 1] == list(range(announced + 1))  # every announced start is there
    assert sends == list(range(len(sends)))  # and nothing out of order or torn
    # a new writer (the resumed run, on another worker) continues after it, overwriting nothing
    resumed = S3Ledger(clients().s3, url)
    resumed.append("intents", n="resumed")
    after = S3Ledger(clients().s3, url).entries()
    assert after[: len(entries)] == entries and after[-1] == {"kind": "intents", "n": "resumed"}


def test_an_altered_ledger_object_is_refused_not_read(bucket: str) -> None:
    from patchwave.state.ledger import LedgerDamaged

    url = f"s3://{bucket}/patchwave/state/runs/altered"
    ledger = S3Ledger(clients().s3, url)
    ledger.append("plan", plan={"waves": []})
    ledger.append("intents", wave="w", commands=[])
    s3 = boto3.client("s3")
    key = "patchwave/state/runs/altered/00000000.jsonl"
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    s3.put_object(Bucket=bucket, Key=key, Body=body.replace(b'"waves"', b'"wavez"'))
    with pytest.raises(LedgerDamaged, match="00000000.jsonl: line 1: damaged ledger line"):
        S3Ledger(clients().s3, url).entries()


def test_reports_kept_in_s3_are_fetched_by_another_worker(bucket: str, tmp_path: Path) -> None:
    here = tmp_path / "worker-a"
    here.mkdir()
    files = {}
    for kind, suffix in (("json", ".json"), ("markdown", ".md"), ("html", ".html")):
        path = here / f"weekly-20261129T020000Z{suffix}"
        path.write_text(json.dumps({"run_id": "run-9"}) if suffix == ".json" else f"<{kind}>")
        files[kind] = str(path)
    links = S3RunStore(clients().s3, bucket, "p").keep_reports("run-9", files)
    assert links["shared-json"] == f"s3://{bucket}/p/reports/run-9/weekly-20261129T020000Z.json"
    fetched = S3RunStore(clients().s3, bucket, "p").fetch_report(str(tmp_path / "worker-b"), "run-9")
    assert fetched == tmp_path / "worker-b" / "weekly-20261129T020000Z.json"
    assert json.loads(fetched.read_text()) == {"run_id": "run-9"}
    assert S3RunStore(clients().s3, bucket, "p").fetch_report(str(tmp_path), "run-unknown") is None


@pytest.mark.usefixtures("prefect_harness")
def test_task_results_go_to_the_s3_block_setup_saved(bucket: str, tmp_path: Path, config) -> None:
    """Prefect task results (plan, waves) persisted in the S3Bucket block `patchwave setup`
    saved: a worker without this one's disk reads them back from S3."""
    from prefect import flow
    from prefect.results import ResultStore
    from prefect.settings import PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK, temporary_settings
    from prefect_aws import S3Bucket

    from flows.patch_window import run_window
    from patchwave.connect import FleetHandle
    from patchwave.window.runner import WaveResult
    from tests.helpers import group, spec, window, world

    folder = aws_yaml(tmp_path / "config", {"bucket": bucket, "result_storage_block": "pw-results"})
    saved = CliRunner().invoke(app, ["setup", "--config", str(folder)])
    assert saved.exit_code == 0, saved.output
    assert "result storage block s3-bucket/pw-results: saved" in saved.output

    sim, clock = world(spec([group("a", ids("d7", 4))]), config.baselines)
    handle = FleetHandle(sim, clock, "simulator", runs=S3RunStore(clients().s3, bucket, "patchwave/state"))
    win = window([{"name": "all", "max_concurrency": "2"}])

    @flow(name="results-in-s3")
    def go():
        return run_window(handle, win, report_dir=str(tmp_path / "reports"))

    with temporary_settings(updates={PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK: "s3-bucket/pw-results"}):
        report = go()
    assert report.status == "succeeded"
    s3 = boto3.client("s3")
    keys = [
        o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="patchwave/state/results/")["Contents"]
    ]
    store = ResultStore(result_storage=S3Bucket.load("pw-results"))
    values = [store.read(key.rsplit("/", 1)[1]).result for key in keys]
    waves = [v for v in values if isinstance(v, WaveResult)]
    assert [w.name for w in waves] == ["all"] and len(waves[0].results) == 4
    # the run's ledger and reports are in S3 too
    shared = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="patchwave/state/")["Contents"]]
    assert any(f"/runs/{report.run_id}/" in k for k in shared)
    assert any(k.endswith(".json") and f"/reports/{report.run_id}/" in k for k in shared)


def test_leases_of_two_accounts_with_the_same_instance_id_do_not_collide(table: str) -> None:
    from patchwave.state.scoped import ScopedLeases

    shared = DynamoLeases(clients().dynamodb, table)
    one = ScopedLeases(shared, "111111111111/eu-west-1")
    two = ScopedLeases(shared, "222222222222/eu-west-1")
    same = ids("d8", 2)
    assert one.acquire("run-1", same, NOW, NOW + MINUTE) == {}
    assert two.acquire("run-2", same, NOW, NOW + MINUTE) == {}  # another account's instances
    assert one.acquire("run-3", same, NOW, NOW + MINUTE) == dict.fromkeys(same, "run-1")
    assert two.holders(same, NOW) == dict.fromkeys(same, "run-2")
    one.release("run-1", same)
    assert one.holders(same, NOW) == {} and two.holders(same, NOW) == dict.fromkeys(same, "run-2")
