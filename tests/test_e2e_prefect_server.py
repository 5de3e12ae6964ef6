"""End to end against a real Prefect server: serve the windows, trigger a run the way the UI
does, check its final state and artifacts through the API; then a process work pool and a
worker run one deployment. Every process is started and stopped by its PID."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.prefect_server import BIN, prefect_server, stop, wait_for

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, dict[str, str], Path]]:
    with prefect_server(tmp_path) as (url, env, _process):
        yield url, {**env, "PREFECT_LOGGING_LEVEL": "WARNING"}, tmp_path


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
