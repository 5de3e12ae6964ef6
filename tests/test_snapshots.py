"""Snapshots before install (issue 16): taken and completed before each install, tagged, a failed
one blocks the install and counts as an error; the same through the AWS adapter against the
emulator (botocore-validated requests); pruning deletes only what is past its delete-after tag."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import boto3
import pytest
import yaml
from moto import mock_aws
from typer.testing import CliRunner

from patchwave.aws.fleet import AwsFleet
from patchwave.aws.session import AwsClients
from patchwave.cli import app
from patchwave.config import load_config
from patchwave.config.aws import AwsSettings
from patchwave.connect import FleetHandle
from patchwave.sim.emulator import emulated_aws_fleet
from patchwave.window.outcomes import Outcome
from patchwave.window.runner import WaveResult, WaveRunner, WaveSettings
from patchwave.window.snapshots import (
    FAILED_DETAILS,
    TAG_DELETE_AFTER,
    TAG_INSTANCE,
    TAG_RUN,
    TAG_WINDOW,
    SnapshotPolicy,
    expired,
)
from tests.helpers import START, group, ids, plan_for, spec, window, world
from tests.invariants import install_starts
from tests.moto_gaps import EC2_SNAPSHOT_GAPS as MOTO_GAPS

POLICY = SnapshotPolicy("nightly", retention_days=5)


def run_wave(fleet, clock, *, max_concurrency="3", max_errors="0", policy=POLICY, ledger=None) -> WaveResult:
    win = window([{"name": "only", "max_concurrency": max_concurrency, "max_errors": max_errors}])
    (wave,) = plan_for(fleet, win).waves
    settings = WaveSettings(snapshot_id="patch-snap", run_id="run-snap", snapshots=policy)
    record = (lambda kind, **data: ledger.append((kind, data))) if ledger is not None else None
    return WaveRunner(fleet, clock, wave, settings, record=record).run()


def assert_snapshotted_before_install(fleet, members) -> None:
    """The simulator's evidence: every snapshot of an instance completed before the first
    SendCommand that installed there."""
    by_instance: dict[str, list] = {}
    for snapshot in fleet.ebs.snapshots.values():
        by_instance.setdefault(snapshot.instance_id, []).append(snapshot)
    starts = install_starts(fleet)
    for iid in members:
        assert iid in starts, iid
        assert by_instance[iid], iid
        assert all(s.done <= min(starts[iid]) for s in by_instance[iid]), iid
        assert all(not s.fails for s in by_instance[iid])


def test_each_instance_is_snapshotted_and_its_snapshots_completed_before_its_install(config) -> None:
    members = ids("e1", 8)
    fleet, clock = world(
        spec(
            [group("a", members)],
            ebs={"volumes_per_instance": 2, "snapshot_minutes": {"median": 6, "p99": 20}},
        ),
        config.baselines,
    )
    ledger: list = []
    result = run_wave(fleet, clock, ledger=ledger)
    assert all(r.outcome == Outcome.PATCHED for r in result.results)
    assert_snapshotted_before_install(fleet, members)
    # snapshots take minutes: the installs really waited for them
    assert any(
        min(install_starts(fleet)[s.instance_id]) - s.started > dt.timedelta(minutes=3)
        for s in fleet.ebs.snapshots.values()
    )
    delete_after = (START + dt.timedelta(days=5)).date().isoformat()
    for snapshot in fleet.ebs.snapshots.values():
        assert snapshot.tags == {
            TAG_RUN: "run-snap",
            TAG_INSTANCE: snapshot.instance_id,
            TAG_WINDOW: "nightly",
            TAG_DELETE_AFTER: delete_after,
        }
    for item in result.results:  # two volumes each, the root volume's snapshot first
        assert len(item.snapshots) == 2
        assert fleet.ebs.snapshots[item.snapshots[0]].root
        assert not fleet.ebs.snapshots[item.snapshots[1]].root
    recorded = {iid for kind, data in ledger if kind == "snapshots" for iid in data["instances"]}
    assert recorded == set(members)
    # snapshotting holds the concurrency slot: never more than 3 instances snapshotting or installing
    assert result.peak_in_flight <= 3


def test_a_failed_snapshot_means_no_install_there_and_counts_toward_max_errors(config) -> None:
    members = ids("e2", 6)
    broken = members[1]
    fleet, clock = world(
        spec([group("a", members)], ebs={"snapshot_failure_ids": [broken]}), config.baselines
    )
    result = run_wave(fleet, clock, max_concurrency="2", max_errors="0")
    got = {r.instance_id: r for r in result.results}
    assert got[broken].outcome == Outcome.FAILED_INSTALL
    assert got[broken].status_details == FAILED_DETAILS
    assert "snapshot failed" in got[broken].error and "not installed" in got[broken].error
    assert broken not in install_starts(fleet)  # never sent AWS-RunPatchBaseline
    assert result.status == "halted" and result.errors == 1
    assert not any(fleet.ebs.snapshots[s].instance_id in members[3:] for s in fleet.ebs.snapshots)
    assert all(got[m].outcome == Outcome.NOT_ATTEMPTED for m in members[3:])


def test_snapshots_are_off_unless_the_window_says_so(config) -> None:
    assert all(not w.snapshot.enabled for w in load_config("config").windows.windows)  # old configs load
    members = ids("e3", 3)
    fleet, clock = world(spec([group("a", members)]), config.baselines)
    result = run_wave(fleet, clock, policy=None)
    assert all(r.outcome == Outcome.PATCHED and not r.snapshots for r in result.results)
    assert not fleet.ebs.snapshots and "CreateSnapshots" not in fleet.api_calls()


def test_through_the_aws_adapter_against_the_emulator(config) -> None:
    members = ids("e4", 5)
    broken = members[3]
    backing, clock = world(
        spec([group("a", members)], ebs={"volumes_per_instance": 2, "snapshot_failure_ids": [broken]}),
        config.baselines,
    )
    adapter, emulator = emulated_aws_fleet(backing)
    win = window([{"name": "only", "max_concurrency": "2", "max_errors": "1"}])
    (wave,) = plan_for(backing, win).waves
    settings = WaveSettings(snapshot_id="patch-snap", run_id="run-aws", snapshots=POLICY)
    result = WaveRunner(adapter, clock, wave, settings).run()
    got = {r.instance_id: r for r in result.results}
    assert got[broken].outcome == Outcome.FAILED_INSTALL and got[broken].status_details == FAILED_DETAILS
    fine = [m for m in members if m != broken]
    assert all(got[m].outcome == Outcome.PATCHED for m in fine)
    assert_snapshotted_before_install(backing, fine)
    assert emulator.calls.count("CreateSnapshots") == len(members)  # one per instance, by design
    assert "DescribeSnapshots" in emulator.calls
    # the adapter told the root volume apart (DescribeInstances) and tagged through TagSpecifications
    for iid in members:
        root = backing.ebs.snapshots[got[iid].snapshots[0]]
        assert root.root and root.volume_id == backing.ebs.root_volume[iid]
        assert root.tags[TAG_RUN] == "run-aws" and root.tags[TAG_INSTANCE] == iid
    # on-premises nodes have no EBS volumes: refused, never sent DescribeInstances
    started = adapter.create_snapshots(["mi-0123456789abcdef0"], {TAG_RUN: "x"})
    assert "on-premises" in started.refused["mi-0123456789abcdef0"]


def test_a_resumed_run_adopts_the_snapshots_a_dead_run_started(config) -> None:
    members = ids("e5", 2)
    fleet, clock = world(spec([group("a", members)]), config.baselines)
    win = window([{"name": "only", "max_concurrency": "2", "max_errors": "0"}])
    (wave,) = plan_for(fleet, win).waves
    settings = WaveSettings(snapshot_id="patch-snap", run_id="run-dead", snapshots=POLICY)
    started = fleet.create_snapshots(members, {TAG_RUN: "run-dead", TAG_DELETE_AFTER: "2026-12-04"})
    ledger = [
        {
            "kind": "snapshots",
            "wave": "only",
            "at": clock.now().isoformat(),
            "instances": {
                iid: [{"snapshot_id": s.snapshot_id, "volume_id": s.volume_id, "root": s.root} for s in snaps]
                for iid, snaps in started.snapshots.items()
            },
        }
    ]
    result = WaveRunner(fleet, clock, wave, settings, resume=ledger).run()
    assert all(r.outcome == Outcome.PATCHED for r in result.results)
    assert len(fleet.ebs.snapshots) == 2  # none taken twice
    assert fleet.api_calls()["CreateSnapshots"] == 2


def test_prune_deletes_only_expired_snapshots_and_asks_first(
    config, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    members = ids("e6", 3)
    backing, clock = world(spec([group("a", members)]), config.baselines)
    adapter, emulator = emulated_aws_fleet(backing)
    today = clock.now().date()
    dates = {
        members[0]: today - dt.timedelta(days=2),
        members[1]: today,
        members[2]: today + dt.timedelta(days=3),
    }
    for iid, when in dates.items():
        adapter.create_snapshots([iid], {TAG_RUN: "old", TAG_DELETE_AFTER: when.isoformat()})
    backing.create_snapshots(members[:1], {TAG_RUN: "not-ours"})  # no delete-after tag: never pruned
    monkeypatch.setattr(
        "patchwave.connect.open_fleet", lambda *a, **k: FleetHandle(adapter, clock, "emulated")
    )
    assert [s.instance_id for s in expired(adapter.tagged_snapshots(), today)] == [members[0]]

    runner = CliRunner()
    declined = runner.invoke(app, ["snapshots", "prune", "--fleet", "aws"], input="n\n")
    assert declined.exit_code == 1 and "DeleteSnapshot" not in emulator.calls
    done = runner.invoke(app, ["snapshots", "prune", "--fleet", "aws", "--yes"], env={"COLUMNS": "200"})
    assert done.exit_code == 0, done.output
    assert "deleted 1 snapshot(s)" in done.output
    assert emulator.calls.count("DeleteSnapshot") == 1
    left = {s.instance_id for s in backing.ebs.snapshots.values()}
    assert [backing.ebs.snapshots.get(s) for s in backing.ebs.deleted] == [None]
    assert left == set(members)  # the expired one of members[0] gone, its untagged one kept
    assert len(backing.ebs.snapshots) == 3


@mock_aws
def test_the_snapshot_calls_against_moto(aws_env) -> None:
    """moto 5 implements CreateSnapshots, DescribeSnapshots and DeleteSnapshot (snapshots are
    completed at once there), not the replace-root-volume tasks (tests/moto_gaps.py): the
    adapter's snapshot half is checked against moto's EC2 too, the rest against the emulator."""
    ec2 = boto3.client("ec2", region_name="eu-west-1")
    image = ec2.describe_images()["Images"][0]["ImageId"]
    (instance,) = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1)["Instances"]
    iid = instance["InstanceId"]
    adapter = AwsFleet(AwsClients(boto3.Session(region_name="eu-west-1")), AwsSettings(region="eu-west-1"))
    started = adapter.create_snapshots(
        [iid, "i-0ffffffffffffffff"], {TAG_RUN: "run-moto", TAG_DELETE_AFTER: "2020-01-01"}
    )
    assert "InvalidInstanceID.NotFound" in started.refused["i-0ffffffffffffffff"]
    (root,) = [s for s in started.snapshots[iid] if s.root]
    states = adapter.snapshot_states("run-moto", [iid])
    assert {s.snapshot_id for s in states[iid]} == {s.snapshot_id for s in started.snapshots[iid]}
    assert all(s.state == "completed" and s.tags[TAG_INSTANCE] == iid for s in states[iid])
    assert root.snapshot_id in {s.snapshot_id for s in expired(adapter.tagged_snapshots(), START.date())}
    adapter.delete_snapshot(root.snapshot_id)
    assert root.snapshot_id not in {s.snapshot_id for s in adapter.tagged_snapshots()}
    assert not MOTO_GAPS & {"CreateSnapshots", "DescribeSnapshots", "DeleteSnapshot"}
    assert {"CreateReplaceRootVolumeTask", "DescribeReplaceRootVolumeTasks"} <= MOTO_GAPS


def test_plan_shows_per_wave_whether_snapshots_are_taken(tmp_path: Path) -> None:
    folder = tmp_path / "config"
    folder.mkdir()
    shutil.copy("config/baselines.yaml", folder / "baselines.yaml")
    windows = yaml.safe_load(Path("config/windows.yaml").read_text())
    windows["windows"][0]["snapshot"] = {"enabled": True, "retention_days": 4}
    (folder / "windows.yaml").write_text(yaml.safe_dump(windows))
    name = windows["windows"][0]["name"]
    runner = CliRunner()
    shown = runner.invoke(app, ["plan", "-w", name, "-c", str(folder)], env={"COLUMNS": "200"})
    assert shown.exit_code == 0, shown.output
    assert "EBS snapshots of" in shown.output and "kept 4 day(s)" in shown.output
    assert "cannot be snapshotted and will not be installed" in shown.output  # the demo's mi- nodes
    data = json.loads(runner.invoke(app, ["plan", "-w", name, "-c", str(folder), "--json"]).output)
    for wave in data["waves"]:
        to_install = sum(i["action"] == "install" for i in wave["instances"])
        assert wave["snapshots"]["enabled"] and wave["snapshots"]["instances"] == to_install
    plain = json.loads(runner.invoke(app, ["plan", "-w", name, "--json"]).output)
    assert not any(w["snapshots"]["enabled"] for w in plain["waves"])
    assert (
        "no snapshots before install"
        in runner.invoke(app, ["plan", "-w", name], env={"COLUMNS": "200"}).output
    )


def test_a_snapshot_failure_past_the_threshold_stops_the_installs_snapshotted_with_it(config) -> None:
    """Two instances snapshotted together, one snapshot fails, max_errors 0: the wave halts
    and the other, though snapshotted, is never installed (nothing starts past the threshold)."""
    members = ids("e7", 2)
    fleet, clock = world(
        spec(
            [group("a", members)],
            ebs={"snapshot_failure_ids": [members[1]], "snapshot_minutes": {"median": 0.2, "p99": 0.25}},
        ),
        config.baselines,
    )
    result = run_wave(fleet, clock, max_concurrency="2", max_errors="0")
    got = {r.instance_id: r for r in result.results}
    assert got[members[1]].outcome == Outcome.FAILED_INSTALL
    assert (
        got[members[0]].outcome == Outcome.NOT_ATTEMPTED
        and "snapshotted, not started" in got[members[0]].error
    )
    assert result.status == "halted" and install_starts(fleet) == {}
