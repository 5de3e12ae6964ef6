"""A ``--resume`` of a run whose process is still alive: refused, never run twice.

Before the run claim, a resume under the same run id owned the original's leases (same run id)
and appended to its ledger: both processes installed the same instances. Here, for real: a
window runs in a child process (sharing a SQLite lease file and the simulator's state file with
the others, as processes on one machine do); while it installs, ``--resume`` of its run id in
another process is refused (one line, exit 2, no fleet call, no ledger write); the first is
SIGKILLed; a resume right away is still refused (its heartbeat is fresh, though the kernel has
already dropped the simulator's and the ledger's file locks); once the heartbeat is stale
(``PATCHWAVE_LEASE_STALE_MINUTES``, 6 s here) the resume takes the run over and finishes it;
the simulator's own records show no instance got two Installs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from patchwave.state.ledger import peek
from tests.crash_campaign import ROOT, Run, Scenario, evidence, fresh, outcomes
from tests.helpers import ids

STALE_MINUTES = 0.1
MEMBERS = ids("e7", 5)
SCENARIO = Scenario(
    "live-holder",
    [
        {"name": "canary", "select": {"count": 1}, "max_concurrency": "1"},
        {"name": "rest", "max_concurrency": "2", "max_errors": "100%"},
    ],
    MEMBERS,
    {},
    {"install_minutes": {"median": 2, "p99": 3}},
)


def _command(run: Run, log: str, resume: str | None) -> list[str]:
    arguments = run.arguments(resume)
    arguments[arguments.index("--speed") + 1] = "60"  # real time passes: the run can be caught alive
    return [sys.executable, "-m", "tests.crash_child", "0", str(run.folder / f"{log}.log"), "--", *arguments]


def _env(run: Run, api: str) -> dict[str, str]:
    env = {
        **os.environ,
        "PREFECT_HOME": str(run.folder.parent / "prefect-home"),
        "PREFECT_API_URL": api,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "COLUMNS": "200",
        "PATCHWAVE_LEASES": str(run.folder / "leases.sqlite"),
        "PATCHWAVE_LEASE_STALE_MINUTES": str(STALE_MINUTES),
    }
    return env


def _resume(run: Run, api: str, run_id: str, log: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        _command(run, log, run_id), cwd=ROOT, env=_env(run, api), capture_output=True, text=True, timeout=300
    )


def _assert_refused(done: subprocess.CompletedProcess[str], run: Run, log: str, run_id: str) -> None:
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stderr[-2000:]
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert f"run {run_id} is held by a live process" in lines[0], lines[0]
    assert run.steps(log) == []  # no fleet call, no ledger line


def _wait_for_second_wave(first: subprocess.Popen[bytes], reports: Path) -> Path:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        assert first.poll() is None, "the run ended before it could be caught alive"
        for path in (reports / ".runs").glob("*.jsonl") if (reports / ".runs").exists() else []:
            if any(e["kind"] == "send" and e.get("wave") == "rest" for e in peek(path)):
                return path
        time.sleep(0.05)
    raise AssertionError("the run never reached its second wave")


def resume_of_a_live_run(tmp_path: Path, baselines: dict[str, Any], api_url: str) -> None:
    """The whole story of the module docstring (run from tests/test_crash_campaign.py, whose
    Prefect server it shares)."""
    run = fresh(tmp_path, SCENARIO, "run", baselines)
    env = _env(run, api_url)
    with (run.folder / "first.err").open("w") as first_err:
        first = subprocess.Popen(
            _command(run, "steps-first", None),
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=first_err,
            start_new_session=True,
        )
        try:
            ledger = _wait_for_second_wave(first, run.reports)
            run_id = ledger.stem
            _assert_refused(_resume(run, api_url, run_id, "steps-alive"), run, "steps-alive", run_id)
            assert first.poll() is None  # the original went on undisturbed
        finally:
            if first.poll() is None:
                os.killpg(first.pid, signal.SIGKILL)
            first.wait(timeout=30)
    killed_at = time.monotonic()
    assert not any(e["kind"] == "finished" for e in peek(ledger))

    # dead, but not yet stale: the file locks are gone, the claim's heartbeat is not
    _assert_refused(_resume(run, api_url, run_id, "steps-fresh"), run, "steps-fresh", run_id)

    time.sleep(max(0.0, STALE_MINUTES * 60 + 0.5 - (time.monotonic() - killed_at)))
    done = _resume(run, api_url, run_id, "steps-stale")
    assert done.returncode == 0, done.stderr[-3000:]
    report = run.report()
    assert report["run_id"] == run_id and report["status"] == "succeeded"
    assert sorted(outcomes(report)) == sorted(MEMBERS)  # one outcome per planned instance
    installs, _ = evidence(run.fleet(), MEMBERS)
    assert installs == dict.fromkeys(MEMBERS, 1), installs  # nobody installed twice
    assert not run.fleet().overlaps
