"""Crash and resume: SIGKILL the orchestrator in the middle of a wave, start it again with
--resume RUN: it re-attaches to the commands already running, starts nothing twice, and
finishes the window with one outcome per instance. The simulated fleet keeps its state in a
file, so it outlives the killed process (as a real fleet would)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from patchwave.sim.fleet import SimulatedFleet
from patchwave.state.ledger import peek
from tests.helpers import group, ids, spec, window

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
MEMBERS = ids("c9", 10)


def test_sigkill_mid_wave_then_resume_starts_nothing_twice(config, tmp_path: Path) -> None:
    folder = tmp_path / "config"
    folder.mkdir()
    (folder / "baselines.yaml").write_text(yaml.safe_dump(config.baselines.model_dump(mode="json")))
    win = window(
        [
            {"name": "canary", "select": {"count": 1}, "max_concurrency": "1"},
            {"name": "rest", "max_concurrency": "3", "max_errors": "100%"},
        ]
    )
    (folder / "windows.yaml").write_text(yaml.safe_dump({"windows": [win.model_dump(mode="json")]}))
    fleet_spec = spec([group("a", MEMBERS)], install_minutes={"median": 8, "p99": 12}).model_dump(mode="json")
    fleet_spec["clock"] = {"mode": "scaled", "speed": 300}
    fleet_spec["state_file"] = str(tmp_path / "fleet-state.pickle")
    (tmp_path / "fleet.yaml").write_text(yaml.safe_dump(fleet_spec))
    reports = tmp_path / "reports"
    env = {
        **os.environ,
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "COLUMNS": "200",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",  # a loaded machine starts it slowly
    }
    env.pop("PREFECT_API_URL", None)
    command = [
        str(BIN / "patchwave"),
        "run",
        "--window",
        "test-window",
        "--config",
        str(folder),
        "--fleet",
        f"sim:{tmp_path / 'fleet.yaml'}",
        "--report-dir",
        str(reports),
    ]

    first = subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "first.err").open("w"),
        start_new_session=True,
    )
    ledger_file = None
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            found = list((reports / ".runs").glob("*.jsonl")) if (reports / ".runs").exists() else []
            if found:
                ledger_file = found[0]
                entries = peek(ledger_file)
                if any(
                    e["kind"] == "send" and e["wave"] == "rest" and e["operation"] == "Install"
                    for e in entries
                ):
                    break  # the second wave is installing: kill the orchestrator now
            assert first.poll() is None, (
                "the run ended before it could be killed: " + (tmp_path / "first.err").read_text()[-2000:]
            )
            time.sleep(0.05)
        else:
            raise AssertionError("the run never reached its second wave")
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=30)
    assert ledger_file is not None
    killed = peek(ledger_file)
    assert not any(e["kind"] == "finished" for e in killed)
    run_id = ledger_file.stem

    second = subprocess.run(
        [*command, "--resume", run_id], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    (report_path,) = reports.glob("*.json")
    report = json.loads(report_path.read_text())
    assert report["run_id"] == run_id and report["status"] == "succeeded"
    assert sorted(i["instance_id"] for i in report["instances"]) == sorted(MEMBERS)  # one outcome each
    fleet = SimulatedFleet.load(tmp_path / "fleet-state.pickle")
    installs: dict[str, int] = {}
    for sent in fleet.sent:
        if sent.operation == "Install":
            for iid in sent.instance_ids:
                installs[iid] = installs.get(iid, 0) + 1
    assert installs == dict.fromkeys(MEMBERS, 1)  # nothing started twice
    assert not fleet.overlaps
