"""Crash at every step: a window in a child process SIGKILLed right after its k-th fleet call or
ledger write, then resumed (sometimes killed again while resuming), judged from the simulated
fleet's own evidence: no instance got two Installs or two reboots, nothing started after a
halt, one outcome per planned instance, outcomes equal to an uninterrupted run.

``make test`` runs a fixed sample of kill points chosen at the moments that matter (intents
written, commands sent, reboots intended and asked, a halt); ``make test-full``
(PATCHWAVE_FULL=1) runs every k of every scenario, and every fifth one killed again during
its resume."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.crash_campaign import (
    KILLED,
    Run,
    Scenario,
    api_url,
    baselines,
    evidence,
    fresh,
    outcomes,
    scenarios,
)
from tests.live_holder import resume_of_a_live_run
from tests.test_drain_hooks import assert_never_installed_while_serving

__all__ = ["api_url", "baselines"]  # fixtures

FULL = os.environ.get("PATCHWAVE_FULL") == "1"
ERRORS = {"failed_install", "failed_verification", "failed_reboot", "timed_out"}


def clean_run(root: Path, scenario: Scenario, baselines: dict[str, Any], api_url: str) -> tuple[Run, int]:
    run = fresh(root, scenario, "clean", baselines)
    done = run.child(0, api_url=api_url)
    assert done.returncode in (0, 1), done.stderr[-2000:]
    return run, done.returncode


def crash_and_resume(
    root: Path, scenario: Scenario, baselines: dict[str, Any], api_url: str, kills: list[int]
) -> tuple[Run, int, list[str]]:
    """Run, killed after kills[0] steps; resume, killed after kills[1] steps; ...; then
    resume to the end. Returns the run, its exit code and the steps each kill came after."""
    run = fresh(root, scenario, "k" + "-".join(map(str, kills)), baselines)
    killed_after: list[str] = []
    code = 0
    for attempt, kill_at in enumerate([*kills, 0]):
        resume = run.run_id()
        log = f"steps-{attempt}"
        done = run.child(kill_at, resume=resume, api_url=api_url, log=log)
        if done.returncode == KILLED:
            killed_after.append(run.steps(log)[kill_at - 1])
            continue
        assert done.returncode in (0, 1), f"after kills {kills}: {done.stderr[-2000:]}"
        assert "Traceback" not in done.stderr
        code = done.returncode
        break
    return run, code, killed_after


def judge(
    clean: Run, clean_code: int, run: Run, code: int, killed_after: list[str], scenario: Scenario
) -> None:
    report, expected = run.report(), clean.report()
    where = f"{scenario.name}, killed after {killed_after}"
    assert code == clean_code, where
    assert sorted(outcomes(report)) == sorted(scenario.members), where  # one outcome per planned instance
    installs, reboots = evidence(run.fleet(), scenario.members)
    clean_installs, clean_reboots = evidence(clean.fleet(), scenario.members)
    assert max(installs.values(), default=0) <= 1, f"{where}: two installs {installs}"
    assert max(reboots.values(), default=0) <= 1, f"{where}: two reboots {reboots}"
    assert installs == clean_installs, f"{where}: installs differ (started after a halt?)"
    if not killed_after or not killed_after[0].startswith("fleet") or planned_before_kill(run):
        assert not run.fleet().overlaps, where
    # else: killed before its plan was written, the run was started anew (nothing to resume)
    # and its first scan overlapped the dead run's scan still running (docs/reliability.md)
    got, want = outcomes(report), outcomes(expected)
    if "ledger reboot_intent" in killed_after:
        # killed between a reboot's intent and its request: EC2 keeps no record to look up, so
        # the reboot is awaited as if asked (never asked twice); verification then finds what
        # the instance really did, and an instance that did not reboot ends counted as an error
        differing = {i for i in want if got[i] != want[i]}
        assert all(got[i] in ERRORS for i in differing), f"{where}: {got} != {want}"
        assert reboots.keys() <= clean_reboots.keys()
    else:
        assert got == want, where
        assert reboots == clean_reboots, where
    assert report["status"] == expected["status"] or "ledger reboot_intent" in killed_after, where
    if scenario.name == "drain-hooks":
        judge_drain(run, clean, scenario, where)


def judge_drain(run: Run, clean: Run, scenario: Scenario, where: str) -> None:
    """Never installed while taking traffic; every instance back in service at the end (a
    resumed run puts back what the killed one took out); no hook sent twice to an instance."""
    fleet = run.fleet()
    for iid in scenario.members:
        assert_never_installed_while_serving(fleet, iid)
        serving = fleet.services.serving(iid)
        assert serving and max(serving, key=lambda s: s[1])[2] is None, f"{where}: {iid} not put back"
        spans = fleet.services.in_service(iid)
        assert not spans or spans[-1][1] is None, f"{where}: {iid} left in Standby"
    hooks = Counter((c.phase, iid) for c in fleet.hooks_sent for iid in c.instance_ids)
    clean_hooks = Counter((c.phase, iid) for c in clean.fleet().hooks_sent for iid in c.instance_ids)
    assert sorted(hooks) == sorted(clean_hooks), f"{where}: hooks differ"
    assert max(hooks.values(), default=0) <= 1, f"{where}: a hook sent twice {hooks}"


def planned_before_kill(run: Run) -> bool:
    return any("start,plan" in step for step in run.steps("steps-0"))


SAMPLE = {  # make test: one kill point per scenario, at the moment it is about
    "multi-batch": "fleet send_patch_command",  # a later batch sent, not yet recorded
    "controlled-reboots": "fleet reboot",  # a reboot asked, not yet recorded
    "halting": "ledger halt",  # the halt written, in-flight work still running
    "drain-hooks": "fleet deregister_targets",  # taken out of service, not yet recorded as drained
}


def sample(scenario: Scenario, steps: list[str]) -> list[int]:
    kind = SAMPLE[scenario.name]
    found = [i + 1 for i, step in enumerate(steps) if step == kind]
    return [found[min(3, len(found) - 1)]] if found else []


@pytest.mark.parametrize("scenario", scenarios(), ids=lambda s: s.name)
def test_crash_at_every_step(
    scenario: Scenario, tmp_path: Path, baselines: dict[str, Any], api_url: str
) -> None:
    clean, clean_code = clean_run(tmp_path, scenario, baselines, api_url)
    steps = clean.steps()
    points = list(range(1, len(steps) + 1)) if FULL else sample(scenario, steps)
    assert points
    cases: list[list[int]] = [[k] for k in points]
    if FULL:
        cases += [[k, 1 + (k // 5) % 20] for k in points[::5]]  # killed again while resuming
    elif scenario.name == "multi-batch":
        cases = [[points[-1], 3]]  # twice in a row: the resume is killed too
    for kills in cases:
        run, code, killed_after = crash_and_resume(tmp_path, scenario, baselines, api_url, kills)
        judge(clean, clean_code, run, code, killed_after, scenario)
    print(f"{scenario.name}: {len(steps)} steps, {len(cases)} crash cases")


def test_resume_of_a_live_run_is_refused_until_its_holder_is_stale(
    tmp_path: Path, baselines: dict[str, Any], api_url: str
) -> None:
    """A resume while the run's process lives: refused; after SIGKILL, refused until the
    holder's heartbeat is stale, then taken over; no instance installed twice
    (tests/live_holder.py; here to share this module's Prefect server)."""
    resume_of_a_live_run(tmp_path, baselines, api_url)
