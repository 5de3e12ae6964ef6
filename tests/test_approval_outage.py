"""A wave waiting for approval survives a Prefect API outage: the real `prefect server` is
SIGKILLed while the run is paused for the operator's typed answer, stays down, and comes back
(same database); the run neither aborts nor approves on its own, sends nothing meanwhile, and
goes on when the operator approves after the outage. Two server starts and a CLI run take about
90 s on 2 cores: this module runs in full only (make test-full / PATCHWAVE_FULL=1)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.helpers import config_with_window
from tests.prefect_server import BIN, prefect_server, start_server, stop, wait_for

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(os.environ.get("PATCHWAVE_FULL") != "1", reason="PATCHWAVE_FULL=1 only")
WINDOW = {
    "name": "approve-test",
    "targets": {"tags": {"Name": ["canary", "legacy"]}},
    "operation": "Install",
    "reboot": "if_needed",
    "approval_timeout_minutes": 10,
    "waves": [
        {"name": "canary", "select": {"tags": {"Wave": ["canary"]}}, "max_concurrency": "1"},
        {"name": "rest", "max_concurrency": "100%", "max_errors": "100%", "require_approval": True},
    ],
}


def _paused_run(url: str) -> str | None:
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: url}), get_client(sync_client=True) as client:
        for run in client.read_flow_runs():
            if run.state is not None and run.state.is_paused():
                return str(run.id)
    return None


def _sends(reports: Path) -> list[dict]:
    ledgers = list((reports / ".runs").glob("*.jsonl")) if (reports / ".runs").exists() else []
    lines = ledgers[0].read_text().splitlines() if ledgers else []
    entries = [json.loads(line.split(" ", 1)[1]) for line in lines if line.strip()]  # "CRC {json}"
    return [e for e in entries if e.get("kind") == "send"]


def test_an_approval_wait_outlives_a_prefect_outage(tmp_path: Path) -> None:
    config, reports = config_with_window(tmp_path, WINDOW), tmp_path / "reports"
    with prefect_server(tmp_path) as (url, env, server):
        env = {**env, "PREFECT_CLIENT_MAX_RETRIES": "1"}  # the client's own retries: short
        command = [str(BIN / "patchwave"), "run", "-w", "approve-test", "--config", str(config)]
        run = subprocess.Popen(
            [*command, "--speed", "0", "--report-dir", str(reports)],
            cwd=ROOT,
            env=env,
            stdout=(tmp_path / "run.out").open("w"),
            stderr=(tmp_path / "run.err").open("w"),
            start_new_session=True,
        )
        restarted = None
        try:

            def paused() -> str | None:
                assert run.poll() is None, (tmp_path / "run.err").read_text()[-3000:]
                return _paused_run(url)

            run_id = wait_for(paused, 240, "the run to pause for approval")
            sent_before = _sends(reports)
            os.killpg(server.pid, signal.SIGKILL)  # the API goes away while the wave waits
            server.wait(timeout=10)
            time.sleep(8)  # several polls and the client's retries fail meanwhile
            assert run.poll() is None, (
                "the outage ended the run: " + (tmp_path / "run.err").read_text()[-3000:]
            )
            assert _sends(reports) == sent_before  # nothing sent without approval
            port = url.rsplit(":", 1)[1].split("/")[0]
            log = (tmp_path / "server2.log").open("w")
            restarted = start_server(int(port), env, log, tmp_path / "server2.log")
            assert _paused_run(url) == run_id  # still paused: neither approved nor rejected
            approve = subprocess.run(
                [str(BIN / "patchwave"), "approve", run_id, "--by", "alice", "--note", "after the outage"],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert approve.returncode == 0, approve.stdout + approve.stderr
            code = run.wait(timeout=300)
        finally:
            if run.poll() is None:
                os.killpg(run.pid, signal.SIGKILL)
            if restarted is not None:
                stop(restarted)
    out, err = (tmp_path / "run.out").read_text(), (tmp_path / "run.err").read_text()
    assert code in (0, 1) and "Traceback" not in out + err, out + err
    (path,) = reports.glob("approve-test-*.json")
    report = json.loads(path.read_text())
    (decision,) = report["decisions"]
    assert (decision["decision"], decision["decided_by"]) == ("approved", "alice")
    assert {w["name"]: w["status"] for w in report["waves"]} == {"canary": "completed", "rest": "completed"}
    rest = {i["instance_id"] for i in report["instances"] if i["wave"] == "rest"}
    installs = [e for e in _sends(reports) if e["operation"] == "Install" and e.get("wave") == "rest"]
    assert rest and rest <= {iid for e in installs for iid in e["members"]}  # ran once approved
