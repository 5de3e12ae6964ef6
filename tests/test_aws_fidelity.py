"""A real account, not a kind simulator (issue 10): each AWS behaviour the simulator models,
run through the real AWS adapter against the emulator and directly on the simulator, with the
same outcomes both ways."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from patchwave.aws import ec2 as ec2_calls
from patchwave.fleet import InstancesNotFound, PatchCommand
from patchwave.sim.emulator import emulated_aws_fleet
from patchwave.window.outcomes import Outcome
from patchwave.window.runner import WaveResult, WaveRunner, WaveSettings
from tests.helpers import group, ids, plan_for, spec, window, world

BOTH = pytest.mark.parametrize("through", ["simulator", "aws"])


def one_wave(
    config: Any,
    through: str,
    members: list[str],
    *,
    max_concurrency: str = "10",
    max_errors: str = "0",
    groups: tuple[dict[str, Any], ...] = (),
    settings: WaveSettings | None = None,
    prescan: bool = False,
    **behaviour: Any,
) -> tuple[WaveResult, Any, Any]:
    """Plan one wave on the simulator, run it directly or through the AWS adapter (after the
    window's own first Scan, with the same snapshot, when ``prescan``)."""
    sim, clock = world(spec([group("a", members), *groups], **behaviour), config.baselines)
    if prescan:
        sim.send_patch_command(PatchCommand(tuple(members), "Scan", "NoReboot", "snap-1", "run-1"))
        clock.sleep(3600)
    win = window([{"name": "only", "max_concurrency": max_concurrency, "max_errors": max_errors}])
    (wave,) = plan_for(sim, win).waves
    fleet: Any = sim
    if through == "aws":
        fleet, _ = emulated_aws_fleet(sim)
    result = WaveRunner(fleet, clock, wave, settings or WaveSettings("snap-1", "run-1")).run()
    return result, sim, fleet


def by_id(result: WaveResult) -> dict[str, Any]:
    return {r.instance_id: r for r in result.results}


def down_when_sent(sim: Any, operation: str) -> list[str]:
    """Instances a command of ``operation`` was sent to while they were really down."""
    found = []
    for inv in sim.invocations():
        if inv.operation != operation or inv.sent is None:
            continue
        for iid, down, up in sim.downtimes:
            if iid == inv.instance_id and down <= inv.sent and (up is None or inv.sent < up):
                found.append(iid)
    return found


# ---------------------------------------------------------------- reboots that look finished
@BOTH
def test_a_controlled_reboot_is_over_only_with_a_ping_after_it(config, through: str) -> None:
    members = ids("f1", 4)
    settings = WaveSettings("snap-1", "run-1", reboot="controlled", reboot_concurrency="4")
    result, sim, _ = one_wave(
        config,
        through,
        members,
        settings=settings,
        reboot_minutes={"median": 3, "p99": 3},
        ping_lag_minutes=8,
    )
    assert {r.outcome for r in result.results} == {Outcome.PATCHED}
    assert len(sim.downtimes) == 4  # each was rebooted (kernel patch pending reboot)
    # PingStatus read Online throughout each reboot: no verification scan went to a node down
    assert down_when_sent(sim, "Scan") == []


@BOTH
def test_a_reboot_proved_by_connection_lost_then_online(config, through: str) -> None:
    members = ids("f2", 2)
    settings = WaveSettings("snap-1", "run-1", reboot="controlled", reboot_concurrency="2")
    result, sim, _ = one_wave(
        config,
        through,
        members,
        settings=settings,
        reboot_minutes={"median": 12, "p99": 12},
        ping_lag_minutes=1,
        ping_interval_seconds=3600,  # pings so rare that the last one proves nothing soon
    )
    assert {r.outcome for r in result.results} == {Outcome.PATCHED}
    assert down_when_sent(sim, "Scan") == []


@BOTH
def test_a_reboot_that_never_ends_is_failed_reboot_though_ping_reads_online(config, through: str) -> None:
    members = ids("f3", 2)
    settings = WaveSettings(
        "snap-1",
        "run-1",
        reboot="controlled",
        reboot_concurrency="2",
        reboot_timeout=dt.timedelta(minutes=10),
    )
    result, _, _ = one_wave(
        config,
        through,
        members,
        max_errors="1",
        settings=settings,
        reboot_hang_ids=[members[0]],
        ping_lag_minutes=30,  # longer than the reboot timeout: PingStatus never says it is down
    )
    got = by_id(result)
    assert got[members[0]].outcome == Outcome.FAILED_REBOOT
    assert got[members[1]].outcome == Outcome.PATCHED


# ---------------------------------------------------------------- stale patch states
@BOTH
def test_a_stale_patch_state_is_waited_for_never_taken(config, through: str) -> None:
    members = ids("f4", 3)
    late, never = members[0], members[1]
    settings = WaveSettings("snap-1", "run-1", scan_timeout=dt.timedelta(minutes=20))
    result, sim, _ = one_wave(
        config,
        through,
        members,
        max_errors="1",
        settings=settings,
        prescan=True,  # the last report is this run's own first Scan: same snapshot, earlier
        report_delay_minutes_by_id={late: 8, never: 50},
    )
    got = by_id(result)
    assert got[late].outcome == Outcome.PATCHED  # waited for its report
    assert got[never].outcome == Outcome.FAILED_VERIFICATION
    assert got[never].status_details == "stale patch state"
    assert "Scan of snapshot snap-1" in got[never].error
    assert got[members[2]].outcome == Outcome.PATCHED


# ---------------------------------------------------------------- instances that vanish
@BOTH
def test_an_instance_terminated_before_its_send_is_isolated_and_the_rest_go_on(config, through: str) -> None:
    members = ids("f5", 6)
    gone = members[2]
    result, sim, fleet = one_wave(
        config, through, members, max_concurrency="2", terminate_at_minutes={gone: 1}
    )
    got = by_id(result)
    assert got[gone].outcome == Outcome.SKIPPED_OFFLINE
    assert got[gone].status_details == "InvalidInstanceId" and "no longer a managed node" in got[gone].error
    assert all(got[m].outcome == Outcome.PATCHED for m in members if m != gone)
    assert result.errors == 0 and result.status == "completed"
    installs = [c for c in sim.sent if c.operation == "Install"]
    assert all(gone not in c.instance_ids for c in installs)  # the refused request started nothing
    assert fleet.api_calls()["SendCommand"] == len(sim.sent) + 1  # the one refused


@BOTH
def test_an_instance_terminated_mid_install_is_skipped_offline_not_an_error(config, through: str) -> None:
    members = ids("f6", 3)
    gone = members[0]
    result, _, _ = one_wave(
        config,
        through,
        members,
        install_minutes_by_id={gone: 30},
        terminate_at_minutes={gone: 10},
        settings=WaveSettings("snap-1", "run-1", install_timeout=dt.timedelta(minutes=60)),
    )
    got = by_id(result)
    assert got[gone].outcome == Outcome.SKIPPED_OFFLINE and "vanished" in got[gone].error
    assert result.errors == 0 and result.status == "completed"
    assert all(got[m].outcome == Outcome.PATCHED for m in members[1:])


def test_send_command_with_one_terminated_id_is_refused_whole(config) -> None:
    members = ids("f7", 3)
    sim, clock = world(spec([group("a", members)], terminate_at_minutes={members[1]: 0}), config.baselines)
    adapter, emulator = emulated_aws_fleet(sim)
    with pytest.raises(InstancesNotFound, match="InvalidInstanceId"):
        adapter.send_patch_command(PatchCommand(tuple(members), "Scan", "NoReboot", "s", "r"))
    assert sim.sent == [] and emulator.calls == ["SendCommand"]
    with pytest.raises(InstancesNotFound):
        adapter.reboot(members)
    assert sim.reboots == []
    assert set(adapter.ping_info(members)) == {members[0], members[2]}  # not listed any more


def test_describe_instances_not_found_leaves_out_the_ids_it_names(config) -> None:
    members = ids("f8", 3)
    sim, _ = world(spec([group("a", members)], terminate_at_minutes={members[0]: 0}), config.baselines)
    adapter, emulator = emulated_aws_fleet(sim)
    found = ec2_calls.describe(adapter.clients.ec2, members)
    assert set(found) == set(members[1:])
    assert emulator.calls == ["DescribeInstances", "DescribeInstances"]  # refused, then the rest


@BOTH
def test_stopped_targets_come_from_ec2_and_are_planned_skipped_offline(config, through: str) -> None:
    members, stopped = ids("f9", 2), ids("fa", 1)
    sim, clock = world(
        spec([group("a", members), group("s", stopped, state="stopped")], stop_at_minutes={members[1]: 0}),
        config.baselines,
    )
    fleet: Any = sim if through == "simulator" else emulated_aws_fleet(sim)[0]
    listed = {i.instance_id: i for i in fleet.list_instances()}
    assert listed[stopped[0]].state == "stopped" and listed[members[1]].state == "stopped"
    assert set(fleet.ping_info([*members, *stopped])) == {members[0]}  # SSM lists neither
    win = window([{"name": "only"}])
    from patchwave.window.planning import plan_window
    from patchwave.window.targeting import select

    targets = select(fleet.list_instances(), win.targets)
    plan = plan_window(win, targets, fleet.patch_states(list(listed)), fleet.compliance(list(listed)))
    presets = {m.instance_id: m.preset for m in plan.members}
    assert presets[stopped[0]] == presets[members[1]] == Outcome.SKIPPED_OFFLINE
    assert presets[members[0]] is None


# ---------------------------------------------------------------- status details
DETAILS = {
    "Undeliverable": Outcome.SKIPPED_OFFLINE,
    "DeliveryTimedOut": Outcome.SKIPPED_OFFLINE,
    "AccessDenied": Outcome.NOT_DELIVERED,
    "InvalidPlatform": Outcome.NOT_DELIVERED,
    "Terminated": Outcome.NOT_DELIVERED,
}


@BOTH
def test_status_details_are_reported_as_what_they_are_and_are_not_errors(config, through: str) -> None:
    members = ids("fb", 7)
    odd = dict(zip(members, DETAILS, strict=False))
    result, sim, _ = one_wave(config, through, members, status_details_by_id=odd)
    got = by_id(result)
    for iid, detail in odd.items():
        assert (got[iid].outcome, got[iid].status_details) == (DETAILS[detail], detail)
    assert all(got[m].outcome == Outcome.PATCHED for m in members[5:])
    assert result.errors == 0 and result.status == "completed"  # max_errors 0, yet not halted
    command = next(iter(sim._commands))  # noqa: SLF001
    assert sim.progress_of(command, sim.clock.now()).error_count == 0  # as ErrorCount counts


@BOTH
def test_a_window_may_count_undelivered_invocations_as_errors(config, through: str) -> None:
    members = ids("fc", 4)
    settings = WaveSettings("snap-1", "run-1", undelivered_are_errors=True)
    result, _, _ = one_wave(
        config,
        through,
        members,
        max_concurrency="1",
        settings=settings,
        status_details_by_id={members[0]: "AccessDenied"},
    )
    got = by_id(result)
    assert got[members[0]].outcome == Outcome.NOT_DELIVERED
    assert "counted as an error" in got[members[0]].error
    assert result.status == "halted" and result.errors == 1
    assert all(got[m].outcome == Outcome.NOT_ATTEMPTED for m in members[1:])


# ---------------------------------------------------------------- polling cost
def test_polling_cost_follows_the_active_commands_not_the_finished_ones(config) -> None:
    members = ids("fd", 120)
    sim, clock = world(spec([group("a", members)]), config.baselines)
    adapter, emulator = emulated_aws_fleet(sim)
    finished = [
        adapter.send_patch_command(PatchCommand((iid,), "Scan", "NoReboot", "s", "r")) for iid in members[:-1]
    ]
    clock.sleep(3600)
    active = adapter.send_patch_command(PatchCommand((members[-1],), "Scan", "NoReboot", "s", "r"))
    before = len(emulator.calls)
    progress = adapter.command_progress([*finished, active])
    assert set(progress) == {active}  # the finished ones have left: their invocations tell
    assert emulator.calls[before:] == ["ListCommands"]  # one page, not 120 commands' worth
    sim_progress = sim.command_progress([*finished, active])
    assert set(sim_progress) == {active}
    assert sim.api_calls()["ListCommands"] == 2  # the emulated call, and the simulator's own


# ---------------------------------------------------------------- bad input: one line, exit 2
def test_bad_knobs_and_window_setting_are_one_line_exit_2(tmp_path) -> None:
    import yaml
    from typer.testing import CliRunner

    from patchwave.cli import app

    root = __import__("pathlib").Path(__file__).resolve().parents[1]
    fleet = yaml.safe_load((root / "config" / "fleets" / "demo.yaml").read_text())
    fleet.setdefault("behaviour", {})["status_details_by_id"] = {"i-0123456789abcdef0": "Lost"}
    (tmp_path / "fleet.yaml").write_text(yaml.safe_dump(fleet))
    result = CliRunner().invoke(app, ["validate", "--fleet", f"sim:{tmp_path / 'fleet.yaml'}"])
    assert result.exit_code == 2 and "status_details_by_id" in result.output
    assert "Traceback" not in result.output
    for name in ("baselines.yaml", "windows.yaml"):
        (tmp_path / name).write_text((root / "config" / name).read_text())
    windows = yaml.safe_load((tmp_path / "windows.yaml").read_text())
    windows["windows"][0]["count_undelivered_as_errors"] = "sometimes"
    (tmp_path / "windows.yaml").write_text(yaml.safe_dump(windows))
    result = CliRunner().invoke(app, ["validate", "--config", str(tmp_path)])
    assert result.exit_code == 2
    assert "windows[0].count_undelivered_as_errors = 'sometimes'" in result.output.replace("\n", "")
