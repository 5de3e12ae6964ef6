"""Drain and hooks (issue 16 item 2) on the simulator: judged from the simulated fleet's own
evidence (when each instance was registered, draining, InService; every invocation sent), not
from what the runner says. Virtual clock: seconds of wall time."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError
from typer.testing import CliRunner

from patchwave.cli import app
from patchwave.config.drain import DrainSettings, HookSettings
from patchwave.config.windows import Window
from patchwave.sim.fleet import SimulatedFleet
from patchwave.window.drain import policy_for, wave_drains
from patchwave.window.hooks import HOOK_GRACE
from patchwave.window.outcomes import Outcome
from patchwave.window.runner import WaveResult, WaveRunner, WaveSettings
from tests.helpers import group, ids, plan_for, spec, window, world

DELAY = 120
HEALTHY_AFTER = 45
FAR = dt.datetime.max.replace(tzinfo=dt.UTC)


def drain_spec(members: list[str], asg: list[str] | None = None, **extra: object) -> dict[str, object]:
    target_group = {
        "fleet_groups": ["web"],
        "deregistration_delay_seconds": DELAY,
        "healthy_after_seconds": HEALTHY_AFTER,
        **extra,
    }
    asgs = {"web-asg": {"instance_ids": asg, "target_groups": ["web"]}} if asg else {}
    return {"target_groups": {"web": target_group}, "auto_scaling_groups": asgs}


def run(
    fleet: SimulatedFleet,
    clock,
    *,
    drain: bool = True,
    hooks: dict | None = None,
    max_concurrency: str = "2",
    max_errors: str = "0",
    ledger: list | None = None,
) -> WaveResult:
    win = window([{"name": "only", "max_concurrency": max_concurrency, "max_errors": max_errors}])
    (wave,) = plan_for(fleet, win).waves
    policy = policy_for(DrainSettings(enabled=drain), HookSettings.model_validate(hooks or {}))
    assert policy is not None
    settings = WaveSettings(snapshot_id="snap", run_id="run-drain", drains=(("only", policy),))
    record = (lambda kind, **data: ledger.append((kind, data))) if ledger is not None else None
    return WaveRunner(fleet, clock, wave, settings, record=record).run()


def invocations(fleet: SimulatedFleet, iid: str, operation: str) -> list:
    return [i for i in fleet.invocations_on([iid]) if i.operation == operation]


def span(inv) -> tuple[dt.datetime, dt.datetime]:
    return inv.sent, inv.cancelled_at or inv.end or FAR


def overlaps(a: tuple[dt.datetime, dt.datetime | None], b: tuple[dt.datetime, dt.datetime]) -> bool:
    return a[0] < b[1] and b[0] < (a[1] or FAR)


def assert_never_installed_while_serving(fleet: SimulatedFleet, iid: str) -> None:
    """From the fleet's evidence: no install (from SendCommand to its end) while the instance
    was registered or draining in a target group, or InService in its Auto Scaling group."""
    for install in invocations(fleet, iid, "Install"):
        for group_name, since, until in fleet.services.serving(iid):
            assert not overlaps((since, until), span(install)), (iid, group_name, since, until, span(install))
        for since, until in fleet.services.in_service(iid):
            assert not overlaps((since, until), span(install)), (iid, "InService", since, until)


def out_of_service_peak(fleet: SimulatedFleet, members: list[str]) -> int:
    """The most instances out of their target group at one moment (after the start)."""
    edges: list[tuple[dt.datetime, int]] = []
    for iid in members:
        spans = sorted(fleet.services.serving(iid), key=lambda s: s[1])
        for before, after in zip(spans, spans[1:], strict=False):
            if before[2] is not None:
                edges += [(before[2] - dt.timedelta(seconds=DELAY), 1), (after[1], -1)]
    edges.sort(key=lambda e: (e[0], e[1]))
    peak = current = 0
    for _, delta in edges:
        current += delta
        peak = max(peak, current)
    return peak


def test_drained_before_install_delay_waited_back_after_verification_healthy_before_patched(config) -> None:
    members = ids("da1", 6)
    fleet, clock = world(
        spec([group("web", members)], drain=drain_spec(members, asg=members[:3])), config.baselines
    )
    result = run(fleet, clock, max_concurrency="2")
    got = {r.instance_id: r for r in result.results}
    assert all(got[m].outcome == Outcome.PATCHED for m in members), [
        (r.outcome, r.error) for r in result.results
    ]
    assert not fleet.overlaps
    for iid in members:
        (install,) = invocations(fleet, iid, "Install")
        first, again = sorted(fleet.services.serving(iid), key=lambda s: s[1])
        deregistered = first[2] - dt.timedelta(seconds=DELAY)  # serving ends when the delay has passed
        assert install.sent >= deregistered + dt.timedelta(seconds=DELAY)  # the delay was waited
        assert_never_installed_while_serving(fleet, iid)
        scans = invocations(fleet, iid, "Scan")
        assert scans and again[1] >= max(s.end for s in scans)  # re-registered after verification
        assert again[2] is None  # and left registered
        # patched only once healthy: health checks take HEALTHY_AFTER after the registration
        assert got[iid].finished_at is not None
        assert got[iid].finished_at >= again[1] + dt.timedelta(seconds=HEALTHY_AFTER)
    for iid in members[:3]:  # Auto Scaling members: Standby around the install, InService after
        (before, after) = fleet.services.in_service(iid)
        (install,) = invocations(fleet, iid, "Install")
        assert before[1] <= install.sent and after[0] >= install.end and after[1] is None
    assert fleet.services.desired["web-asg"] == 3  # decremented by EnterStandby, given back
    assert out_of_service_peak(fleet, members) <= 2  # the disruption budget: max_concurrency
    calls = fleet.api_calls()
    assert calls["DeregisterTargets"] == 3 and calls["RegisterTargets"] >= 3  # per batch, not per instance
    assert calls["EnterStandby"] == 2 and calls["ExitStandby"] >= 2


def test_a_failing_pre_hook_and_a_hanging_post_hook_count_toward_max_errors_and_name_the_hook(config) -> None:
    members = ids("da2", 6)
    broken_pre, hanging_post = members[0], members[3]
    faults = [
        {"instance_ids": [broken_pre], "effect": "fail", "match": "stop-app"},
        {"instance_ids": [hanging_post], "effect": "hang", "match": "start-app"},
    ]
    fleet, clock = world(
        spec([group("web", members)], drain=drain_spec(members), hooks={"faults": faults}), config.baselines
    )
    hooks = {
        "pre_install": {"command": "stop-app --graceful"},
        "post_verify": {"command": "start-app", "timeout_seconds": 120},
    }
    ledger: list = []
    result = run(fleet, clock, hooks=hooks, max_concurrency="2", max_errors="1", ledger=ledger)
    got = {r.instance_id: r for r in result.results}
    pre = got[broken_pre]
    assert pre.outcome == Outcome.FAILED_INSTALL and pre.status_details == "PreInstallHookFailed"
    assert "pre-install hook (command 'stop-app --graceful') ended Failed; not installed" in pre.error
    assert not invocations(fleet, broken_pre, "Install")  # no install after a failed pre-install hook
    post = got[hanging_post]
    assert post.outcome == Outcome.FAILED_VERIFICATION and post.status_details == "PostVerifyHookTimedOut"
    assert "post-verify hook (command 'start-app') timed out" in post.error
    # the agent stopped it at its executionTimeout (the hook's timeout), before patchwave's
    # deadline (timeout + grace), which would have cancelled it
    (hung,) = [h for h in invocations(fleet, hanging_post, "Hook") if h.final_status == "TimedOut"]
    assert hung.end - hung.started == dt.timedelta(seconds=120) and hung.cancelled_at is None
    assert (
        post.finished_at is not None
        and post.finished_at - hung.sent <= dt.timedelta(seconds=120) + HOOK_GRACE
    )
    # two errors of one tolerated: the wave halted; nothing started after
    assert result.status == "halted" and result.errors == 2
    halted_at = post.finished_at
    assert any(r.outcome == Outcome.NOT_ATTEMPTED for r in result.results)
    for iid in members:  # nothing (hook or install) started once the second error was counted
        assert all(i.sent <= halted_at for i in fleet.invocations_on([iid])), iid
        if got[iid].outcome == Outcome.NOT_ATTEMPTED:
            assert not invocations(fleet, iid, "Install")
    # hooks and installs in sequence on each instance: never two operations at once
    assert not fleet.overlaps
    for iid in members:
        ops = sorted((span(i) for i in fleet.invocations_on([iid])), key=lambda s: s[0])
        assert all(a[1] <= b[0] for a, b in zip(ops, ops[1:], strict=False)), iid
        assert_never_installed_while_serving(fleet, iid)
    # every instance taken out went back, failed and not attempted ones too
    for iid in members:
        assert max(fleet.services.serving(iid), key=lambda s: s[1])[2] is None, iid
    # hook commands were written ahead: each sent command's token was in an fsynced intent first
    kinds = [kind for kind, _ in ledger]
    intents = [c["token"] for kind, d in ledger if kind == "hook_intents" for c in d["commands"]]
    sends = [d["token"] for kind, d in ledger if kind == "hook_send"]
    assert sends and set(sends) <= set(intents)
    assert kinds.index("hook_intents") < kinds.index("hook_send")
    assert kinds.index("drain") < kinds.index("hook_intents")


def test_not_healthy_after_re_registration_is_a_failure(config) -> None:
    members = ids("da3", 3)
    sick = members[1]
    fleet, clock = world(
        spec([group("web", members)], drain=drain_spec(members, never_healthy_ids=[sick])), config.baselines
    )
    result = run(fleet, clock, max_concurrency="3", max_errors="1")
    got = {r.instance_id: r for r in result.results}
    assert got[sick].outcome == Outcome.FAILED_VERIFICATION
    assert got[sick].status_details == "NotHealthyInTargetGroup"
    assert "not healthy within 0:10:00" in got[sick].error and "web unhealthy" in got[sick].error
    assert result.errors == 1 and result.status == "completed"
    assert all(got[m].outcome == Outcome.PATCHED for m in members if m != sick)


def test_standby_refused_below_min_size_means_no_install_and_nothing_deregistered(config) -> None:
    members = ids("da4", 3)
    drain = drain_spec(members, asg=members)
    drain["auto_scaling_groups"]["web-asg"]["min_size"] = 2  # type: ignore[index]
    fleet, clock = world(spec([group("web", members)], drain=drain), config.baselines)
    result = run(fleet, clock, max_concurrency="3", max_errors="3")
    got = {r.instance_id: r for r in result.results}
    refused = [m for m in members if got[m].outcome == Outcome.FAILED_INSTALL]
    assert len(refused) == 2  # one may go (3 -> 2), the others would drop below the minimum
    for iid in refused:
        assert got[iid].status_details == "DrainFailed" and "EnterStandby refused" in got[iid].error
        assert "minimum size" in got[iid].error
        assert not invocations(fleet, iid, "Install")
        assert len(fleet.services.serving(iid)) == 1 and fleet.services.serving(iid)[0][2] is None
    (fine,) = [m for m in members if m not in refused]
    assert got[fine].outcome == Outcome.PATCHED


def test_hooks_without_drain_and_windows_hooks_by_platform(config) -> None:
    linux, windows = ids("da5", 2), ids("da6", 2)
    fleet, clock = world(
        spec([group("web", linux), group("win", windows, platform="WINDOWS")]), config.baselines
    )
    result = run(
        fleet, clock, drain=False, hooks={"pre_install": {"command": "echo ready"}}, max_concurrency="4"
    )
    assert all(r.outcome == Outcome.PATCHED for r in result.results)
    documents = {c.document: set(c.instance_ids) for c in fleet.hooks_sent}
    assert documents == {"AWS-RunShellScript": set(linux), "AWS-RunPowerShellScript": set(windows)}
    (command,) = [c for c in fleet.hooks_sent if c.document == "AWS-RunShellScript"]
    assert dict(command.parameters) == {"commands": ("echo ready",), "executionTimeout": ("600",)}
    assert not fleet.overlaps and "DescribeTargetGroups" not in fleet.api_calls()


def test_config_defaults_wave_overrides_and_bad_input(tmp_path: Path) -> None:
    base = {
        "name": "w",
        "targets": {"tags": {"Role": ["web"]}},
        "drain": {"enabled": True},
        "hooks": {"pre_install": {"document": "patchwave-Prepare", "parameters": {"mode": ["drain"]}}},
        "waves": [{"name": "canary"}, {"name": "rest", "drain": {"enabled": False}, "hooks": {}}],
    }
    win = Window.model_validate(base)
    drains = dict(wave_drains(win))
    assert set(drains) == {"canary"} and drains["canary"].drain and drains["canary"].pre is not None
    assert drains["canary"].pre.document == "patchwave-Prepare"
    plain = Window.model_validate({k: v for k, v in base.items() if k not in ("drain", "hooks")})
    assert not wave_drains(plain) and not plain.drain.enabled  # old configs: nothing changes
    for bad, words in (
        ({"command": "x", "document": "patchwave-X"}, "exactly one of command or document"),
        ({"command": "x", "parameters": {"a": ["b"]}}, "parameters go with a document"),
        ({"document": "AWS-RunShellScript"}, "give the script as 'command'"),
    ):
        with pytest.raises(ValidationError, match=words):
            HookSettings.model_validate({"pre_install": bad})
    with pytest.raises(ValidationError, match="not a target group ARN"):
        DrainSettings.model_validate({"enabled": True, "target_groups": ["web"]})
    # through the real CLI: one line naming the file and value, exit 2, no fleet built
    folder = tmp_path / "config"
    folder.mkdir()
    root = Path(__file__).resolve().parent.parent / "config"
    (folder / "baselines.yaml").write_text((root / "baselines.yaml").read_text())
    broken = {**base, "drain": {"enabled": True, "target_groups": ["not-an-arn"]}}
    (folder / "windows.yaml").write_text(yaml.safe_dump({"windows": [broken]}))
    out = CliRunner().invoke(app, ["plan", "--window", "w", "--config", str(folder)])
    assert out.exit_code == 2, out.output
    assert "windows.yaml" in out.output and "not-an-arn" in out.output
    assert len(out.output.strip().splitlines()) == 1
