"""Two workers standing in for two machines: two process workers on one real Prefect server,
each with its own working folder and PREFECT_HOME, sharing only AWS: a moto server over HTTP
(DynamoDB leases, S3 ledgers, reports and task results, STS) and the fleet's Systems Manager
endpoint (a simulated fleet behind the emulator, ``tests/fleet_server.py``).

- two overlapping windows started at once, one on each worker: no instance is operated on by
  both at once (the simulator records any overlap);
- a run that failed on one worker, retried the way the UI's Retry does after that worker and
  its folders are gone, is picked up by the other, which finds the finished tasks' results;
- a worker SIGKILLed in the middle of a wave, its run resumed on the other worker: nothing is
  started twice. Every process is started and stopped by its PID (or its process group)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
import yaml

from tests.helpers import START, spec
from tests.moto_server import MOTO_ENV
from tests.prefect_server import free_port, stop, wait_for

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
POOL = "multi-worker"
# Real time on the AWS path: the windows use a lab's pacing (see ``windows``) so each takes seconds.


def mi(prefix: str, count: int) -> list[str]:
    """On-premises managed instance ids (Systems Manager only: no EC2 call needed)."""
    return [f"mi-{prefix}{index:0{17 - len(prefix)}x}" for index in range(count)]


BOTH, NIGHTLY_ONLY, HALT, LONG = mi("0a", 4), mi("0b", 4), mi("0c", 3), mi("0d", 5)
FAILING = HALT[2]


def windows() -> list[dict]:
    timeouts = {"install_minutes": 5, "scan_minutes": 2, "reboot_minutes": 2}
    # a lab's pacing: the fleet's commands take seconds, so the runner looks every second or two
    pacing = {
        "min_poll_seconds": 1,
        "max_poll_seconds": 5,
        "verify_batch_seconds": 2,
        "reboot_grace_seconds": 2,
    }
    base = {"timeouts": timeouts, "pacing": pacing, "overlap_wait_minutes": 30}  # started by the test
    return [
        {
            **base,
            "name": "nightly",
            "targets": {"tags": {"Workload": ["Shared"]}},
            "waves": [{"name": "all", "max_concurrency": "3", "max_errors": "100%"}],
        },
        {
            **base,
            "name": "hotfix",
            "targets": {"instance_ids": BOTH},
            "waves": [{"name": "urgent", "max_concurrency": "4", "max_errors": "100%"}],
        },
        {
            **base,
            "name": "halting",
            "targets": {"tags": {"Workload": ["Halt"]}},
            "waves": [
                {"name": "first", "select": {"instance_ids": HALT[:2]}, "max_concurrency": "2"},
                {"name": "second", "max_concurrency": "1", "max_errors": "0"},
            ],
        },
        {
            **base,
            "name": "long",
            "targets": {"tags": {"Workload": ["Long"]}},
            "waves": [
                {"name": "canary", "select": {"count": 1}, "max_concurrency": "1"},
                {"name": "rest", "max_concurrency": "2", "max_errors": "100%"},
            ],
        },
    ]


def fleet_spec() -> dict:
    def group(name: str, members: list[str], workload: str) -> dict:
        return {
            "name": name,
            "ids": members,
            "platform": "AMAZON_LINUX_2023",
            "on_premises": True,
            "tags": {"Workload": workload},
        }

    groups = [
        group("both", BOTH, "Shared"),
        group("nightly", NIGHTLY_ONLY, "Shared"),
        group("halt", HALT, "Halt"),
        group("long", LONG, "Long"),
    ]
    made = spec(
        groups,
        install_minutes={"median": 0.08, "p99": 0.12},  # seconds of real time: the fleet runs on it
        install_minutes_by_id=dict.fromkeys(LONG, 0.3),
        scan_minutes={"median": 0.01, "p99": 0.02},
        reboot_minutes={"median": 0.01, "p99": 0.02},
        reboot_rate=0.0,
        delivery_seconds=0.2,
        failing_ids=[FAILING],
    ).model_dump(mode="json")
    made["start"] = START.isoformat()
    return made


class Cluster:
    """The shared world of this module and its two workers."""

    def __init__(self, tmp: Path, url: str, env: dict[str, str]) -> None:
        self.tmp, self.url, self.env = tmp, url, env
        self.workers: dict[str, subprocess.Popen] = {}
        self.logs: dict[str, Path] = {}

    def start_worker(self, name: str) -> None:
        folder = self.tmp / name
        folder.mkdir(parents=True, exist_ok=True)
        self.logs[name] = folder / "worker.log"
        env = {**self.env, "PREFECT_HOME": str(folder / "prefect-home"), "PREFECT_WORKER_QUERY_SECONDS": "2"}
        env["PATCHWAVE_LEASES"] = str(folder / "leases.sqlite")  # would be used only without DynamoDB
        with self.logs[name].open("a") as log:
            self.workers[name] = subprocess.Popen(
                [str(BIN / "prefect"), "worker", "start", "--pool", POOL, "--name", name, "--limit", "1"],
                cwd=folder,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its flow runs are in its process group
            )

    def ran(self, flow_run_id: object) -> str:
        """Which worker submitted this flow run (from the workers' own logs)."""
        for name, log in self.logs.items():
            if f"/runs/flow-run/{flow_run_id}" in log.read_text(errors="replace"):  # the run's own log
                return name
        return ""

    def evidence(self) -> dict:
        with urllib.request.urlopen(f"{self.env['AWS_ENDPOINT_URL_SSM']}/evidence", timeout=10) as response:
            return json.loads(response.read())


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    from moto.server import ThreadedMotoServer

    tmp = tmp_path_factory.mktemp("multi-worker")
    processes: list[subprocess.Popen] = []
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    moto_url = f"http://{host}:{port}"
    config = tmp / "config"
    config.mkdir()
    (config / "baselines.yaml").write_text((ROOT / "config" / "baselines.yaml").read_text())
    (config / "windows.yaml").write_text(yaml.safe_dump({"windows": windows()}))
    shared = {
        "leases_table": "patchwave-leases",
        "bucket": "patchwave-state",
        "result_storage_block": "pw-results",
    }
    (config / "aws.yaml").write_text(yaml.safe_dump({"region": "eu-west-1", "shared": shared}))
    (tmp / "fleet.yaml").write_text(yaml.safe_dump(fleet_spec()))
    prefect_port, fleet_port = free_port(), free_port()
    url = f"http://127.0.0.1:{prefect_port}/api"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PREFECT_"))},
        **MOTO_ENV,
        "AWS_ENDPOINT_URL": moto_url,
        "AWS_ENDPOINT_URL_SSM": f"http://127.0.0.1:{fleet_port}",
        "PREFECT_API_URL": url,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "PREFECT_LOGGING_LEVEL": "INFO",
    }
    s3 = boto3.client(
        "s3",
        endpoint_url=moto_url,
        region_name="eu-west-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    s3.create_bucket(Bucket="patchwave-state", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    cluster = Cluster(tmp, url, env)
    try:
        logs = tmp / "servers.log"
        with logs.open("w") as log:
            processes.append(
                subprocess.Popen(
                    [
                        str(BIN / "prefect"),
                        "server",
                        "start",
                        "--host",
                        "127.0.0.1",
                        "--port",
                        str(prefect_port),
                    ],
                    env={**env, "PREFECT_HOME": str(tmp / "server-home"), "PREFECT_LOGGING_LEVEL": "WARNING"},
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
            fleet = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tests.fleet_server",
                    str(config),
                    str(tmp / "fleet.yaml"),
                    str(fleet_port),
                ],
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                start_new_session=True,
            )
            processes.append(fleet)
        assert fleet.stdout is not None and fleet.stdout.readline().strip() == "ready", logs.read_text()[
            -2000:
        ]

        def healthy() -> bool:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                    return response.status == 200
            except OSError:
                return False

        wait_for(healthy, 120, "the Prefect server")

        def cli(*args: str, cwd: Path = ROOT) -> str:
            done = subprocess.run(
                [*args],
                cwd=cwd,
                env={**env, "PREFECT_HOME": str(tmp / "admin-home")},
                capture_output=True,
                text=True,
                timeout=180,
            )
            assert done.returncode == 0, done.stdout + done.stderr
            return done.stdout

        setup = cli(str(BIN / "patchwave"), "setup", "--config", str(config))
        assert "result storage block s3-bucket/pw-results: saved" in setup
        cli(str(BIN / "prefect"), "work-pool", "create", POOL, "--type", "process")
        deployed = cli(
            str(BIN / "patchwave"),
            "deploy",
            "--work-pool",
            POOL,
            "--fleet",
            "aws",
            "--config",
            str(config),
            "--report-dir",
            "reports",
        )
        assert "deployed patch-window/long" in deployed
        cluster.start_worker("worker-a")
        cluster.start_worker("worker-b")
        yield cluster
    finally:
        for worker in cluster.workers.values():
            stop(worker)
        for process in reversed(processes):
            stop(process)
        moto.stop()


def flow_run_processes(flow_run_id: object) -> list[int]:
    """The processes executing this flow run (ours: started by our workers), by their env."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                environ = (entry / "environ").read_bytes()
            except OSError:
                continue
            if f"PREFECT__FLOW_RUN_ID={flow_run_id}".encode() in environ.split(b"\0"):
                found.append(int(entry.name))
    assert found, f"no process runs flow run {flow_run_id}"
    return found


def run_of(cluster: Cluster, deployment: str, **parameters: object):
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: cluster.url}), get_client(sync_client=True) as client:
        found = client.read_deployment_by_name(deployment)
        return client.create_flow_run_from_deployment(found.id, parameters=parameters)


def final(cluster: Cluster, flow_run_id, timeout: float = 420):
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: cluster.url}), get_client(sync_client=True) as client:

        def check():
            run = client.read_flow_run(flow_run_id)
            return run if run.state is not None and run.state.is_final() else None

        try:
            return wait_for(check, timeout, f"flow run {flow_run_id}")
        except AssertionError:
            tails = {n: log.read_text(errors="replace")[-3000:] for n, log in cluster.logs.items()}
            raise AssertionError(f"flow run {flow_run_id} did not finish: {tails}") from None


def state_s3(cluster: Cluster):
    return boto3.client(
        "s3",
        endpoint_url=cluster.env["AWS_ENDPOINT_URL"],
        region_name="eu-west-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def ledger(cluster: Cluster, run_id: object) -> list[dict]:
    from patchwave.aws.s3_state import S3Ledger

    return S3Ledger(state_s3(cluster), f"s3://patchwave-state/patchwave/state/runs/{run_id}").entries()


def test_two_overlapping_windows_on_two_workers_never_hold_an_instance_both(cluster: Cluster) -> None:
    nightly = run_of(cluster, "patch-window/nightly", report_dir=str(cluster.tmp / "r-nightly"))
    hotfix = run_of(cluster, "patch-window/hotfix", report_dir=str(cluster.tmp / "r-hotfix"))
    done = [final(cluster, nightly.id), final(cluster, hotfix.id)]
    assert all(run.state.is_completed() for run in done), [run.state for run in done]
    assert {cluster.ran(nightly.id), cluster.ran(hotfix.id)} == {"worker-a", "worker-b"}
    evidence = cluster.evidence()
    assert evidence["overlaps"] == []
    # each window's own ledger (in S3) shows it installed on the instances the two share
    sent = {
        name: {
            i
            for e in ledger(cluster, run.id)
            if e["kind"] == "send" and e["operation"] == "Install"
            for i in e["members"]
        }
        for name, run in (("nightly", nightly), ("hotfix", hotfix))
    }
    assert sent["nightly"] >= set(NIGHTLY_ONLY) and sent["hotfix"] <= set(BOTH)
    assert set(BOTH) <= sent["nightly"] | sent["hotfix"]


def test_a_failed_run_retried_from_the_ui_on_the_other_worker_finds_its_results(cluster: Cluster) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
    from prefect.settings import PREFECT_API_URL, temporary_settings
    from prefect.states import Scheduled

    run = run_of(cluster, "patch-window/halting", report_dir=str(cluster.tmp / "r-halting"))
    failed = final(cluster, run.id)
    assert failed.state.is_failed(), failed.state
    first = cluster.ran(run.id)
    other = {"worker-a": "worker-b", "worker-b": "worker-a"}[first]
    stop(cluster.workers.pop(first))  # that machine is gone, with its folders
    shutil.rmtree(cluster.tmp / first)
    cluster.logs.pop(first)
    installs_before = cluster.evidence()["installs"]

    with temporary_settings(updates={PREFECT_API_URL: cluster.url}), get_client(sync_client=True) as client:
        client.set_flow_run_state(run.id, Scheduled(), force=True)  # what the UI's Retry does
    retried = final(cluster, run.id)
    assert retried.run_count == 2 and cluster.ran(run.id) == other
    assert retried.state.is_failed()  # the failing instance fails again; nothing else is redone
    installs = cluster.evidence()["installs"]
    again = {i: installs.get(i, 0) - installs_before.get(i, 0) for i in HALT}
    assert {i: n for i, n in again.items() if n} == {FAILING: 1}  # only what failed, once

    with temporary_settings(updates={PREFECT_API_URL: cluster.url}), get_client(sync_client=True) as client:
        task_runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run.id])))
    # attempt 2's discover-targets found attempt 1's result in the S3 block: not run again
    discover = sorted(
        (t for t in task_runs if t.name.startswith("discover-targets")), key=lambda t: t.created
    )
    assert len(discover) == 2 and discover[-1].state.name == "Cached", [t.state.name for t in discover]
    cluster.start_worker(first)  # the machine comes back, empty


def test_a_worker_killed_mid_wave_and_its_run_resumed_on_the_other_starts_nothing_twice(
    cluster: Cluster,
) -> None:
    run = run_of(cluster, "patch-window/long", report_dir=str(cluster.tmp / "r-long-1"))

    def installing_rest():
        entries = ledger(cluster, run.id)
        return any(  # the write-ahead intent: the send follows at once
            e["kind"] == "intents" and e.get("wave") == "rest" and e["commands"][0]["operation"] == "Install"
            for e in entries
        )

    wait_for(installing_rest, 420, "the second wave to start installing")
    victim = cluster.ran(run.id)
    assert victim
    # the machine dies: its worker and the flow run process (Prefect starts it in a session of
    # its own, so killing the worker's process group alone would leave the run going)
    for pid in flow_run_processes(run.id):
        os.kill(pid, signal.SIGKILL)
    os.killpg(cluster.workers[victim].pid, signal.SIGKILL)
    cluster.workers.pop(victim).wait(timeout=30)
    killed = ledger(cluster, run.id)
    assert not any(e["kind"] == "finished" for e in killed)

    resumed = run_of(
        cluster, "patch-window/long", resume=str(run.id), report_dir=str(cluster.tmp / "r-long-2")
    )
    done = final(cluster, resumed.id)
    assert done.state.is_completed(), done.state
    assert cluster.ran(resumed.id) not in ("", victim)
    entries = ledger(cluster, run.id)  # the resumed run writes on in the killed run's ledger
    assert entries[: len(killed)] == killed and entries[-1]["kind"] == "finished"
    evidence = cluster.evidence()
    assert {i: evidence["installs"].get(i, 0) for i in LONG} == dict.fromkeys(LONG, 1)  # nothing twice
    assert evidence["overlaps"] == []
    s3 = state_s3(cluster)
    keys = s3.list_objects_v2(Bucket="patchwave-state", Prefix=f"patchwave/state/reports/{run.id}/")[
        "Contents"
    ]
    (report_key,) = [k["Key"] for k in keys if k["Key"].endswith(".json")]
    report = json.loads(s3.get_object(Bucket="patchwave-state", Key=report_key)["Body"].read())
    assert report["status"] == "succeeded" and sorted(i["instance_id"] for i in report["instances"]) == LONG
