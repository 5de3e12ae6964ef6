"""End to end against a real Prefect server: serve the windows, trigger a run the way the UI
does, check its final state and artifacts through the API; then a process work pool and a
worker run one deployment. Every process is started and stopped by its PID."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop(process: subprocess.Popen) -> None:
    """SIGINT to the process group (a graceful stop), then SIGKILL if it lingers."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGINT)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def start_server(port: int, env: dict[str, str], log: Any, log_path: Path) -> subprocess.Popen:
    """`prefect server start` on this port, returned once its health endpoint answers."""
    url = f"http://127.0.0.1:{port}/api"
    process = subprocess.Popen(
        [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    return process
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            stop(process)
            raise AssertionError("the Prefect server did not become healthy: " + log_path.read_text()[-2000:])
        time.sleep(0.5)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, dict[str, str], Path]]:
    port = free_port()
    url = f"http://127.0.0.1:{port}/api"
    env = {
        **os.environ,
        "PREFECT_HOME": str(tmp_path / "prefect-home"),
        "PREFECT_API_URL": url,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "PREFECT_LOGGING_LEVEL": "WARNING",
        "PATCHWAVE_LEASES": str(tmp_path / "leases.sqlite"),
    }
    log = (tmp_path / "server.log").open("w")
    process = start_server(port, env, log, tmp_path / "server.log")
    try:
        yield url, env, tmp_path
    finally:
        stop(process)
        log.close()


def wait_for(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def test_served_window_runs_from_the_api_then_a_worker_runs_a_deployment(server) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId
    from prefect.settings import PREFECT_API_URL, temporary_settings

    url, env, tmp_path = server
    reports = tmp_path / "reports"
    common = ["--fleet", "sim:config/fleets/demo.yaml", "--speed", "0", "--report-dir", str(reports)]
    serve_log = (tmp_path / "serve.log").open("w")
    serving = subprocess.Popen(
        [str(BIN / "patchwave"), "serve", *common],
        cwd=ROOT,
        env=env,
        stdout=serve_log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    worker = None
    try:
        with temporary_settings(updates={PREFECT_API_URL: url}), get_client(sync_client=True) as client:

            def deployment(name: str):
                def check():
                    try:
                        return client.read_deployment_by_name(name)
                    except Exception:  # noqa: BLE001 - not there yet
                        assert serving.poll() is None, (tmp_path / "serve.log").read_text()[-3000:]
                        return None

                return check

            for name in ("emergency-patch/emergency", "retry-failed/retry-failed"):
                wait_for(deployment(name), 90, name)
            served = wait_for(deployment("patch-window/weekly-test"), 90, "the served window")
            (schedule,) = served.schedules
            assert schedule.schedule.cron == "0 3 * * SUN" and schedule.schedule.timezone == "Europe/Paris"
            assert served.parameters["window"] == "weekly-test" and "patchwave" in served.tags

            def finished(run_id):
                def check():
                    run = client.read_flow_run(run_id)
                    return run if run.state is not None and run.state.is_final() else None

                return check

            run = client.create_flow_run_from_deployment(served.id)  # what the UI's "Run" does
            done = wait_for(finished(run.id), 180, "the served run")
            assert done.state.is_completed(), done.state
            keys = {
                a.key
                for a in client.read_artifacts(
                    artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run.id]))
                )
            }
            assert {"compliance-weekly-test", "report-weekly-test", "wave-canary"} <= keys
            assert list(reports.glob("weekly-test-*.json"))

            stop(serving)
            assert not client.read_deployment_by_name("patch-window/weekly-test").paused  # schedules stay on

            subprocess.run(
                [str(BIN / "prefect"), "work-pool", "create", "patchwave-e2e", "--type", "process"],
                env=env,
                check=True,
                capture_output=True,
                timeout=60,
            )
            deployed = subprocess.run(
                [str(BIN / "patchwave"), "deploy", "--work-pool", "patchwave-e2e", *common],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert deployed.returncode == 0, deployed.stdout + deployed.stderr
            assert "deployed patch-window/weekly-test to work pool patchwave-e2e" in deployed.stdout
            worker_log = (tmp_path / "worker.log").open("w")
            worker = subprocess.Popen(
                [str(BIN / "prefect"), "worker", "start", "--pool", "patchwave-e2e"],
                cwd=ROOT,
                env=env,
                stdout=worker_log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            pooled = client.read_deployment_by_name("patch-window/weekly-test")
            assert pooled.work_pool_name == "patchwave-e2e"
            run = client.create_flow_run_from_deployment(pooled.id)
            done = wait_for(finished(run.id), 240, "the worker's run")
            assert done.state.is_completed(), (tmp_path / "worker.log").read_text()[-3000:]
    finally:
        stop(serving)
        if worker is not None:
            stop(worker)
        serve_log.close()
