"""Verification scans are settled by their reports (patch states first): a Scan command whose
every member reported costs no ListCommandInvocations; one with a member that did not is listed,
and that member is still waited for, never taken as verified."""

from __future__ import annotations

import datetime as dt
from typing import Any

from patchwave.window.outcomes import Outcome
from patchwave.window.runner import WaveSettings
from tests.helpers import ids
from tests.test_aws_fidelity import BOTH, by_id, one_wave


def commands_of(sim: Any, operation: str, skip: int = 0) -> list[Any]:
    """The window's commands of one operation, as the simulated fleet received them."""
    return [c for c in sim.sent[skip:] if c.operation == operation]


@BOTH
def test_reported_scans_are_not_listed(config, through: str) -> None:
    members = ids("5c1", 12)
    result, sim, fleet = one_wave(config, through, members, max_concurrency="4")
    assert all(r.outcome == Outcome.PATCHED for r in result.results)
    installs, scans = commands_of(sim, "Install"), commands_of(sim, "Scan")
    assert scans and {i for c in scans for i in c.instance_ids} == set(members)
    calls = fleet.api_calls()
    assert calls["ListCommandInvocations"] == len(installs)  # one page each; the scans: none
    assert calls["DescribeInstancePatchStates"] >= len(scans)


@BOTH
def test_a_scan_without_a_fresh_report_is_listed_and_its_member_waited_for(config, through: str) -> None:
    members = ids("5c2", 6)
    late, never = members[0], members[1]
    settings = WaveSettings("snap-1", "run-1", scan_timeout=dt.timedelta(minutes=20))
    result, sim, fleet = one_wave(
        config,
        through,
        members,
        max_concurrency="3",
        max_errors="1",
        settings=settings,
        prescan=True,  # the last report is this run's own first Scan: same snapshot, earlier
        report_delay_minutes_by_id={late: 8, never: 50},
    )
    got = by_id(result)
    assert got[late].outcome == Outcome.PATCHED
    assert got[never].outcome == Outcome.FAILED_VERIFICATION
    assert got[never].status_details == "stale patch state"
    assert all(got[m].outcome == Outcome.PATCHED for m in members[2:])
    installs, scans = commands_of(sim, "Install", 1), commands_of(sim, "Scan", 1)  # after the prescan
    stale = [c for c in scans if late in c.instance_ids or never in c.instance_ids]
    assert stale and len(stale) < len(scans)
    assert fleet.api_calls()["ListCommandInvocations"] == len(installs) + len(stale)
