"""The operator's night, end to end, against a real `prefect server`: served deployments, a
finished and a halted window run (states, task runs, logs, artifacts), the same failure
retried by `patchwave retry` and by the UI's Retry with identical outcomes, and the pages an
operator uses looked at in headless Chromium. Screenshots go to the test's tmp folder; the
committed ones in docs/screenshots/ are refreshed only on request (`make screenshots`, which sets
PATCHWAVE_SCREENSHOTS=1)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from patchwave.window.retry import find_report
from tests.browser import Browser, find_or_install_chromium
from tests.helpers import config_with_window
from tests.prefect_server import BIN, prefect_server, stop, wait_for

ROOT = Path(__file__).resolve().parent.parent
DOCS_SHOTS = ROOT / "docs" / "screenshots"


def screenshots_dir(tmp_path: Path) -> Path:
    """docs/screenshots/ only when asked (PATCHWAVE_SCREENSHOTS=1): `make test` leaves the
    committed pictures alone."""
    if os.environ.get("PATCHWAVE_SCREENSHOTS") == "1":
        return DOCS_SHOTS
    folder = tmp_path / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


STRICT = {
    "name": "strict",
    "description": "Web and API together, one error tolerated.",
    "schedule": {"cron": "0 4 * * SAT", "timezone": "America/New_York"},
    "duration_hours": 4,
    "cutoff_hours": 1,
    "targets": {"tags": {"Name": ["web", "api"]}},
    "operation": "Install",
    "reboot": "if_needed",
    # 10% of 13 = 1 error tolerated; the demo fleet has a failing install and a failing health
    # check in these groups: the wave halts. Retried, 10% of the 2 retried would be 0.
    "waves": [{"name": "web-and-api", "max_concurrency": "100%", "max_errors": "10%"}],
}


def config_with_strict_window(tmp_path: Path) -> Path:
    return config_with_window(tmp_path, STRICT)


def outcomes(path: Path, only: set[str] | None = None) -> dict[str, str]:
    data = json.loads(path.read_text())
    return {
        i["instance_id"]: i["outcome"] for i in data["instances"] if only is None or i["instance_id"] in only
    }


def test_operator_view_in_prefect_and_the_browser(tmp_path: Path) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        FlowRunFilter,
        FlowRunFilterId,
        LogFilter,
        LogFilterFlowRunId,
    )
    from prefect.settings import PREFECT_API_URL, temporary_settings
    from prefect.states import Scheduled

    chromium = find_or_install_chromium()
    shots = screenshots_dir(tmp_path)
    config = config_with_strict_window(tmp_path)
    reports = tmp_path / "reports"
    common = ["--config", str(config), "--speed", "0", "--report-dir", str(reports)]
    with prefect_server(tmp_path) as (url, env, _server):
        serving = subprocess.Popen(
            [str(BIN / "patchwave"), "serve", *common],
            cwd=ROOT,
            env=env,
            stdout=(tmp_path / "serve.log").open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            with temporary_settings(updates={PREFECT_API_URL: url}), get_client(sync_client=True) as client:

                def deployment(name: str):
                    def check():
                        assert serving.poll() is None, (tmp_path / "serve.log").read_text()[-3000:]
                        try:
                            return client.read_deployment_by_name(name)
                        except Exception:  # noqa: BLE001 - not there yet
                            return None

                    return check

                weekly = wait_for(deployment("patch-window/weekly-test"), 180, "the weekly-test deployment")
                strict = wait_for(deployment("patch-window/strict"), 60, "the strict deployment")
                assert "America/New_York" in (strict.description or "")

                def final(run_id, run_count: int = 1):
                    def check():
                        run = client.read_flow_run(run_id)
                        done = run.state is not None and run.state.is_final() and run.run_count >= run_count
                        return run if done else None

                    return check

                finished_run = client.create_flow_run_from_deployment(weekly.id)
                halted_run = client.create_flow_run_from_deployment(strict.id)
                finished = wait_for(final(finished_run.id), 300, "the weekly-test run")
                halted = wait_for(final(halted_run.id), 300, "the strict run")

                # a window that finished with errors within its thresholds: a named Completed state
                assert finished.state.is_completed() and finished.state.name == "SucceededWithErrors"
                assert finished.name.startswith("weekly-test ")
                # a halted window: Failed, one line that says why
                assert halted.state.is_failed(), halted.state
                assert "halted" in halted.state.message and "\n" not in halted.state.message
                tasks = client.read_task_runs(
                    flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[halted.id]))
                )
                (wave_task,) = [t for t in tasks if t.name.startswith("wave ")]
                assert wave_task.name == "wave web-and-api" and wave_task.state.is_failed()
                assert "halted" in wave_task.state.message

                def logs_arrived():
                    # the run's process ships its logs in batches: they may land after its final state
                    logs = client.read_logs(
                        log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[halted.id]))
                    )
                    text = "\n".join(log.message for log in logs)
                    return text if "Wave web-and-api starting" in text else None

                text = wait_for(logs_arrived, 60, "the strict run's logs")
                assert "Planning the waves" in text
                assert "Traceback" not in text and "unexpected exception" not in text
                artifacts = client.read_artifacts(
                    artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[halted.id]))
                )
                report_artifact = next(a for a in artifacts if a.key == "report-strict")
                assert "halted" in report_artifact.data.splitlines()[0]
                assert "halted" in (report_artifact.description or "")

                # the same failure retried two ways: `patchwave retry`, then the UI's Retry
                first = find_report(reports, str(halted.id))
                retried = subprocess.run(
                    [str(BIN / "patchwave"), "retry", "--run-id", str(halted.id), *common],
                    cwd=ROOT,
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=300,
                )
                assert retried.returncode == 1, retried.stdout + retried.stderr  # halted again
                assert "Traceback" not in retried.stdout + retried.stderr
                cli_report = next(
                    p for p in reports.glob("strict-*.json") if json.loads(p.read_text())["retry_of"]
                )
                client.set_flow_run_state(halted.id, Scheduled(name="AwaitingRetry"), force=True)
                again = wait_for(final(halted.id, run_count=2), 300, "the UI retry")
                ui_report = find_report(reports, str(halted.id))
                assert ui_report != first and "attempt2" in ui_report.name
                retried_ids = set(outcomes(cli_report))
                assert retried_ids and outcomes(ui_report, retried_ids) == outcomes(cli_report)
                for path in (cli_report, ui_report):
                    (wave,) = json.loads(path.read_text())["waves"]
                    assert wave["max_errors"] == 1, path  # the wave's own budget, not 10% of 2
                assert again.state.is_failed() and "halted" in again.state.message

            # the pages, as an operator sees them
            browser = Browser(chromium, tmp_path / "chromium-profile")
            page = browser.dom(first.with_suffix(".html").as_uri(), wait_ms=2000)
            assert "halted" in page and 'id="f-outcome"' in page
            body = page.split('id="instances"', 1)[1]
            assert body.index("failed_") < body.index("patched")  # failures first
            browser.screenshot(first.with_suffix(".html").as_uri(), shots / "report-halted.png", wait_ms=2000)
            ui = url.removesuffix("/api")
            pages = {
                "prefect-deployments.png": (f"{ui}/deployments", ["weekly-test", "strict", "emergency"]),
                "prefect-run-finished.png": (f"{ui}/runs/flow-run/{finished.id}", ["SucceededWithErrors"]),
                "prefect-run-halted.png": (f"{ui}/runs/flow-run/{halted.id}", ["Failed", "halted"]),
                "prefect-artifact-report.png": (f"{ui}/artifacts/artifact/{report_artifact.id}", ["halted"]),
            }
            for shot, (address, expected) in pages.items():
                dom = browser.dom(address)
                missing = [word for word in expected if word not in dom]
                assert not missing, (address, missing, dom[-2000:])
                browser.screenshot(address, shots / shot)
        finally:
            stop(serving)


def test_screenshots_go_to_docs_only_when_asked(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("PATCHWAVE_SCREENSHOTS", raising=False)
    assert screenshots_dir(tmp_path).is_relative_to(tmp_path)  # `make test` leaves docs/ alone
    monkeypatch.setenv("PATCHWAVE_SCREENSHOTS", "1")
    assert screenshots_dir(tmp_path) == DOCS_SHOTS  # `make screenshots`
