"""The simulated fleet answers with Systems Manager's semantics, deterministically."""

from __future__ import annotations

import datetime as dt

import pytest

from patchwave.fleet import PatchCommand
from patchwave.sim.spec import FleetSpec
from tests.helpers import group, ids, spec, world


def install(fleet, instance_ids, reboot="RebootIfNeeded", snapshot="snap-1", override=()) -> str:
    return fleet.send_patch_command(
        PatchCommand(tuple(instance_ids), "Install", reboot, snapshot, "run-1", tuple(override))
    )


def statuses(fleet, command_id):
    return {i.instance_id: (i.status, i.status_details) for i in fleet.list_invocations(command_id)}


def test_invocation_goes_pending_in_progress_success(config) -> None:
    fleet, clock = world(spec([group("a", ids("a", 1))], delivery_seconds=10), config.baselines)
    (iid,) = ids("a", 1)
    command = fleet.send_patch_command(PatchCommand((iid,), "Scan", "NoReboot", "snap", "run"))
    assert statuses(fleet, command)[iid] == ("Pending", "Pending")
    clock.sleep(11)
    assert statuses(fleet, command)[iid] == ("InProgress", "InProgress")
    clock.sleep(3600)
    assert statuses(fleet, command)[iid] == ("Success", "Success")
    progress = fleet.progress_of(command, clock.now())
    assert (progress.status, progress.completed_count, progress.error_count) == ("Success", 1, 0)


def test_install_then_patch_states_and_compliance(config) -> None:
    fleet, clock = world(spec([group("a", ids("a", 3), tags={"Patch Group": "Critical"})]), config.baselines)
    before = fleet.patch_states(ids("a", 3))
    assert all(s.missing > 0 for s in before.values())  # missing_rate 1.0: nothing installed
    assert all(s.baseline_id == "AmazonLinuxSecAndNonSecBaseline" for s in before.values())
    install(fleet, ids("a", 3))
    clock.sleep(6 * 3600)
    after = fleet.patch_states(ids("a", 3))
    for state in after.values():
        assert state.missing == 0 and state.failed == 0 and state.installed_pending_reboot == 0
        assert state.operation == "Install" and state.snapshot_id == "snap-1"
        assert state.installed > 0
    assert all(c.compliant for c in fleet.compliance(ids("a", 3)).values())


def test_reboot_if_needed_takes_the_instance_offline_then_back(config) -> None:
    s = spec(
        [group("a", ids("a", 1))],
        install_minutes={"median": 10, "p99": 10},
        reboot_minutes={"median": 5, "p99": 5},
        delivery_seconds=0,
        ping_lag_minutes=0,
    )
    fleet, clock = world(s, config.baselines)
    (iid,) = ids("a", 1)
    install(fleet, [iid])  # the catalog's kernel patch needs a reboot
    clock.sleep(10 * 60 + 30)
    assert fleet.ping_status([iid])[iid] == "ConnectionLost"
    clock.sleep(5 * 60)
    assert fleet.ping_status([iid])[iid] == "Online"
    assert fleet.patch_states([iid])[iid].installed_pending_reboot == 0


def test_ping_status_lags_a_reboot_and_last_ping_tells(config) -> None:
    """PingStatus is derived from the agent's pings: it reads Online for ping_lag_minutes after
    the node went down; only LastPingDateTime after the reboot proves it came back."""
    s = spec(
        [group("a", ids("a", 1))],
        install_minutes={"median": 10, "p99": 10},
        reboot_minutes={"median": 3, "p99": 3},
        delivery_seconds=0,
        ping_lag_minutes=5,
    )
    fleet, clock = world(s, config.baselines)
    (iid,) = ids("a", 1)
    install(fleet, [iid])
    went_down = clock.now() + dt.timedelta(minutes=10)
    clock.sleep(11 * 60)
    during = fleet.ping_info([iid])[iid]
    assert during.status == "Online" and during.last_ping is not None and during.last_ping <= went_down
    clock.sleep(3 * 60)
    after = fleet.ping_info([iid])[iid]
    assert after.status == "Online" and after.last_ping is not None and after.last_ping > went_down


def test_a_controlled_reboot_is_only_queued(config) -> None:
    (iid,) = ids("a2", 1)
    s = spec([group("a", [iid])], reboot_minutes={"median": 2, "p99": 2}, shutdown_seconds=600)
    fleet, clock = world(s, config.baselines)
    asked = clock.now()
    fleet.reboot([iid])
    clock.sleep(60)
    assert fleet.ping_info([iid])[iid].status == "Online"  # still reads Online
    assert fleet.ping_info([iid])[iid].last_ping <= asked
    clock.sleep(5 * 60)  # EC2 hard-reboots after 4 minutes, back 2 minutes later
    assert fleet.ping_info([iid])[iid].last_ping > asked


def test_no_reboot_leaves_patches_pending_reboot_and_non_compliant(config) -> None:
    fleet, clock = world(spec([group("a", ids("a", 1))]), config.baselines)
    (iid,) = ids("a", 1)
    command = install(fleet, [iid], reboot="NoReboot")
    clock.sleep(6 * 3600)
    assert statuses(fleet, command)[iid] == ("Success", "Success")
    assert fleet.patch_states([iid])[iid].installed_pending_reboot > 0
    assert not fleet.compliance([iid])[iid].compliant
    fleet.reboot([iid])
    clock.sleep(3600)
    scan = fleet.send_patch_command(PatchCommand((iid,), "Scan", "NoReboot", "snap-1", "run"))
    clock.sleep(3600)
    assert statuses(fleet, scan)[iid][0] == "Success"
    assert fleet.patch_states([iid])[iid].installed_pending_reboot == 0


def test_offline_and_inactive_instances(config) -> None:
    lost, gone = ids("b", 1)[0], ids("c", 1)[0]
    s = spec(
        [group("lost", [lost], ping_status="ConnectionLost"), group("gone", [gone], ping_status="Inactive")]
    )
    fleet, clock = world(s, config.baselines)
    command = fleet.send_patch_command(
        PatchCommand((lost, gone), "Install", "RebootIfNeeded", "s", "r", timeout_seconds=600)
    )
    clock.sleep(601)
    result = statuses(fleet, command)
    assert result[lost] == ("TimedOut", "DeliveryTimedOut")
    assert result[gone] == ("Failed", "Undeliverable")
    assert fleet.progress_of(command, clock.now()).error_count == 0  # neither counts as an error


def test_failing_and_stuck_instances(config) -> None:
    bad, stuck = ids("d", 2)
    fleet, clock = world(
        spec([group("a", [bad, stuck])], failing_ids=[bad], stuck_ids=[stuck]), config.baselines
    )
    command = install(fleet, [bad, stuck])
    clock.sleep(3600)
    result = statuses(fleet, command)
    assert result[bad] == ("Failed", "Failed")
    assert result[stuck] == ("InProgress", "InProgress")
    assert fleet.patch_states([bad])[bad].failed == 1
    clock.sleep(2 * 3600)
    assert statuses(fleet, command)[stuck] == ("TimedOut", "ExecutionTimedOut")
    assert fleet.progress_of(command, clock.now()).error_count == 2


def test_hung_reboot_never_comes_back(config) -> None:
    (iid,) = ids("e", 1)
    fleet, clock = world(spec([group("a", [iid])], reboot_hang_ids=[iid]), config.baselines)
    command = install(fleet, [iid])
    clock.sleep(3600)
    assert statuses(fleet, command)[iid][0] == "InProgress"
    assert fleet.ping_status([iid])[iid] == "ConnectionLost"


def test_cancel_ends_an_invocation(config) -> None:
    (iid,) = ids("f", 1)
    fleet, clock = world(spec([group("a", [iid])], stuck_ids=[iid]), config.baselines)
    command = install(fleet, [iid])
    clock.sleep(60)
    fleet.cancel_command(command, [iid])
    assert statuses(fleet, command)[iid] == ("Cancelled", "Cancelled")


def test_rejected_patches_are_never_installed_under_block(config) -> None:
    (iid,) = ids("9a", 1)
    data = config.baselines.model_dump()
    data["baselines"][0]["rejected_patches_action"] = "BLOCK"
    from patchwave.config.baselines import BaselinesFile

    blocked = BaselinesFile.model_validate(data)
    fleet, clock = world(
        spec([group("a", [iid], tags={"Patch Group": "Critical"})], missing_rate=1.0, applicable_rate=1.0),
        blocked,
    )
    install(fleet, [iid])
    clock.sleep(6 * 3600)
    present = fleet.instance(iid).inventory.present
    assert present["ALAS2023-2026-1101"] == "INSTALLED"  # the install did happen
    assert "ALAS2023-2026-1142" not in present  # system-release, rejected
    assert "ALAS2023-2026-1139" not in present  # needs system-release: blocked too


def test_rejected_dependency_comes_in_and_reports_installed_other_under_allow(config) -> None:
    (iid,) = ids("9b", 1)
    fleet, clock = world(
        spec([group("a", [iid], tags={"Patch Group": "Critical"})], missing_rate=1.0, applicable_rate=1.0),
        config.baselines,
    )
    install(fleet, [iid])
    clock.sleep(6 * 3600)
    assert fleet.instance(iid).inventory.present["ALAS2023-2026-1142"] == "INSTALLED"
    state = fleet.patch_states([iid])[iid]
    assert state.installed_other >= 1 and state.installed_rejected == 0


def test_api_calls_are_counted_in_chunks_of_50(config) -> None:
    fleet, _ = world(spec([group("a", ids("a", 120))]), config.baselines)
    fleet.patch_states(ids("a", 120))
    fleet.ping_status(ids("a", 51))
    calls = fleet.api_calls()
    assert calls["DescribeInstancePatchStates"] == 3
    assert calls["DescribeInstanceInformation"] == 2
    with pytest.raises(ValueError):
        PatchCommand(tuple(ids("a", 51)), "Scan", "NoReboot", "s", "r")


def test_throttling_waits_like_adaptive_retries(config) -> None:
    s = spec([group("a", ids("a", 1))], throttling={"enabled": True, "rate_per_second": 1, "burst": 2})
    fleet, clock = world(s, config.baselines)
    start = clock.now()
    for _ in range(5):
        fleet.ping_status(ids("a", 1))
    assert fleet.throttled["DescribeInstanceInformation"] >= 3
    assert (clock.now() - start) >= dt.timedelta(seconds=3)


def test_same_seed_same_fleet_same_timeline(config) -> None:
    def run() -> list:
        fleet, clock = world(spec([group("a", ids("a", 20))], seed=42, failure_rate=0.2), config.baselines)
        command = install(fleet, ids("a", 20))
        clock.sleep(3 * 3600)
        return sorted(statuses(fleet, command).items()), [inv.end for inv in fleet.invocations()]

    assert run() == run()


def test_overlapping_operations_are_recorded(config) -> None:
    (iid,) = ids("9c", 1)
    fleet, clock = world(spec([group("a", [iid])]), config.baselines)
    install(fleet, [iid])
    clock.sleep(10)
    install(fleet, [iid])
    assert fleet.overlaps and fleet.overlaps[0][0] == iid


def test_fleet_spec_refusals_name_the_field() -> None:
    from patchwave.config.loader import validate
    from patchwave.errors import ConfigError

    base = spec([group("a", ids("a", 1))]).model_dump(mode="json")
    base["groups"][0]["count"] = 3  # both count and ids
    with pytest.raises(ConfigError, match=r"fleet.yaml: groups\[0\]"):
        validate(FleetSpec, base, "fleet.yaml")
    base = spec([group("a", ids("a", 1))]).model_dump(mode="json")
    base["behaviour"]["install_minutes"] = {"median": 10, "p99": 5}
    with pytest.raises(ConfigError, match="install_minutes"):
        validate(FleetSpec, base, "fleet.yaml")
