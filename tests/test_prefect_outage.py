"""Prefect outages are survivable: the API server is SIGKILLed mid-wave (a real `prefect
server` process), the window finishes and its report is written locally."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from pathlib import Path

import yaml

from tests.prefect_server import BIN, prefect_server, wait_for

ROOT = Path(__file__).resolve().parent.parent


def roomy_config(tmp_path: Path) -> Path:
    """The demo config with a longer weekly-test window: on the scaled clock (400x) every real
    second the dead API's client retries take is more than six simulated minutes, which can
    push the demo window past its cutoff -- an artefact of the speed-up,
    not of the outage, and not what this test is about."""
    folder = tmp_path / "config"
    shutil.copytree(ROOT / "config", folder)
    windows = yaml.safe_load((folder / "windows.yaml").read_text())
    for window in windows["windows"]:
        if window["name"] == "weekly-test":
            window["duration_hours"] = 12
    (folder / "windows.yaml").write_text(yaml.safe_dump(windows, sort_keys=False))
    return folder


def test_killing_the_prefect_server_mid_wave_loses_nothing(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    config = roomy_config(tmp_path)
    with prefect_server(tmp_path) as (url, env, server):
        # the client's own retries are Prefect's setting; fewer keep the test short
        env = {**env, "PREFECT_CLIENT_MAX_RETRIES": "1"}
        run = subprocess.Popen(
            [
                str(BIN / "patchwave"),
                "run",
                "-w",
                "weekly-test",
                "--speed",
                "400",  # the demo window's hours in under a minute; the kill still lands mid-window
                "--config",
                str(config),
                "--report-dir",
                str(reports),
            ],
            cwd=ROOT,
            env=env,
            stdout=(tmp_path / "run.out").open("w"),
            stderr=(tmp_path / "run.err").open("w"),
            start_new_session=True,
        )
        try:

            def installing() -> bool:
                ledgers = list((reports / ".runs").glob("*.jsonl")) if (reports / ".runs").exists() else []
                text = ledgers[0].read_text() if ledgers else ""
                assert run.poll() is None, (tmp_path / "run.err").read_text()[-3000:]
                return '"kind": "send"' in text and '"Install"' in text

            wait_for(installing, 240, "the first wave's installs")
            os.killpg(server.pid, signal.SIGKILL)  # the API goes away mid-wave
            server.wait(timeout=10)
            code = run.wait(timeout=600)
        finally:
            if run.poll() is None:
                os.killpg(run.pid, signal.SIGKILL)
    out, err = (tmp_path / "run.out").read_text(), (tmp_path / "run.err").read_text()
    assert code in (0, 1), out + err  # the window's own verdict, never a crash
    assert "Traceback" not in out + err
    (path,) = reports.glob("weekly-test-*.json")
    report = json.loads(path.read_text())
    assert len(report["instances"]) == 23 and all(i["outcome"] for i in report["instances"])
    assert report["totals"]["not_attempted"] == 0  # every wave ran to its end without Prefect
    assert report["totals"]["patched"] > 0
    ledger = next((reports / ".runs").glob("*.jsonl")).read_text()
    assert '"kind": "finished"' in ledger
    assert "unreachable" in err or "could not update" in err, err[-2000:]
    # and the process ends when the report is out, not minutes later draining Prefect's queues
    assert "queued events and logs are dropped" in err, err[-2000:]
