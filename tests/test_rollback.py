"""Rollback (issue 16): a failed patch rolled back to its pre-patch root volume and verified, on
the simulator and, through the AWS adapter against the emulator, by the real CLI and flow; an
instance outside the run is refused (one line, exit 2, no fleet call)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from prefect import flow
from typer.testing import CliRunner

from flows.patch_window import run_window
from patchwave.cli import app
from patchwave.compliance.summary import summarise
from patchwave.config.history import load_history_settings
from patchwave.connect import FleetHandle
from patchwave.errors import ConfigError
from patchwave.history.opening import open_store
from patchwave.reports.report import Report, build_report, report_stem, write_atomic
from patchwave.sim.emulator import emulated_aws_fleet
from patchwave.window.outcomes import Outcome
from patchwave.window.rollback import RollbackRun, choose
from patchwave.window.runner import WaveRunner, WaveSettings
from patchwave.window.snapshots import SnapshotPolicy
from tests.helpers import group, ids, plan_for, spec, window, world
from tests.test_zz_iam_policy import allowed

runner = CliRunner()
SNAPSHOTS = {"enabled": True, "retention_days": 3}


def sim_run(fleet, clock, run_id: str) -> Report:
    """One wave with snapshots on the simulator, reported as a window run reports it."""
    win = window([{"name": "only", "max_concurrency": "2", "max_errors": "2"}], snapshot=SNAPSHOTS)
    plan = plan_for(fleet, win)
    started = clock.now()
    settings = WaveSettings(snapshot_id="patch-snap", run_id=run_id, snapshots=SnapshotPolicy(win.name, 3))
    result = WaveRunner(fleet, clock, plan.waves[0], settings).run()
    targets = fleet.list_instances()
    before = summarise(targets, fleet.compliance([t.instance_id for t in targets]))
    return build_report(
        window=win.name,
        run_id=run_id,
        fleet="simulated",
        operation="Install",
        reboot="if_needed",
        snapshot_id="patch-snap",
        started_at=started,
        finished_at=clock.now(),
        plan=plan,
        results=[result],
        before=before,
        after=None,
        api_calls={},
        window_config=win.model_dump(mode="json"),
    )


def test_a_failed_patch_is_rolled_back_to_its_pre_patch_packages_and_verified(config) -> None:
    members = ids("f1", 4)
    failing, patched = members[1], members[2]
    fleet, clock = world(spec([group("a", members)], failing_ids=[failing]), config.baselines)
    before = {iid: dict(fleet.instance(iid).inventory.present) for iid in members}
    report = sim_run(fleet, clock, "run-f1")
    outcomes = {i.instance_id: i.outcome for i in report.instances}
    assert outcomes[failing] == Outcome.FAILED_INSTALL and outcomes[patched] == Outcome.PATCHED
    assert (
        fleet.instance(failing).inventory.present != before[failing]
    )  # the failed install left a FAILED patch
    assert fleet.instance(patched).inventory.present != before[patched]  # patches were installed

    assert choose(report, []) == [failing]  # default: what failed
    with pytest.raises(ConfigError, match="not an instance of run run-f1"):
        choose(report, ["i-0ffffffffffffffff"])
    reboots_before = len(fleet.reboots)
    section = RollbackRun(fleet, clock, "rollback-1").run(report, [failing, patched])
    results = {e.instance_id: e for e in section.entries}
    for iid in (failing, patched):
        entry = results[iid]
        assert entry.result == "restored", entry
        assert entry.snapshot_id == next(i.snapshots[0] for i in report.instances if i.instance_id == iid)
        assert entry.task_id.startswith("replacevol-")
        assert fleet.instance(iid).inventory.present == before[iid]  # its patch state reverted
    assert {iid for iid, _, _ in fleet.ebs.restored} == {failing, patched}
    assert len(fleet.reboots) == reboots_before + 2  # each rebooted onto its new root volume
    assert not fleet.overlaps
    # verified only once back: a ping after the task succeeded, then the health check
    assert all(e.finished_at is not None and e.finished_at > e.started_at for e in section.entries)
    assert fleet.api_calls()["HealthCheck"] >= 1


def test_a_replace_root_volume_task_that_fails_is_reported_failed(config) -> None:
    members = ids("f2", 2)
    fleet, clock = world(
        spec([group("a", members)], failing_ids=[members[0]], ebs={"root_replace_failure_ids": [members[0]]}),
        config.baselines,
    )
    report = sim_run(fleet, clock, "run-f2")
    section = RollbackRun(fleet, clock, "rollback-2").run(report, choose(report, []))
    (entry,) = section.entries
    assert entry.result == "failed" and "ended failed" in entry.error
    assert not fleet.ebs.restored


def test_rollback_refuses_an_instance_outside_the_run_without_a_fleet_call(
    config, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    members = ids("f3", 2)
    fleet, clock = world(spec([group("a", members)], failing_ids=[members[0]]), config.baselines)
    report = sim_run(fleet, clock, "run-f3")
    write_atomic(tmp_path / f"{report_stem(report)}.json", report.to_json())
    calls = dict(fleet.api_calls())

    def no_fleet(*_: object, **__: object) -> None:
        raise AssertionError("a fleet was opened")

    monkeypatch.setattr("patchwave.connect.open_fleet", no_fleet)
    monkeypatch.setattr("flows.rollback.open_fleet", no_fleet)
    base = ["rollback", "--run-id", "run-f3", "--report-dir", str(tmp_path), "--yes"]
    outside = runner.invoke(app, [*base, "--instance", "i-0ffffffffffffffff"])
    assert outside.exit_code == 2
    assert outside.output.strip().count("\n") == 0
    assert "i-0ffffffffffffffff" in outside.output and "not an instance of run run-f3" in outside.output
    unknown = runner.invoke(
        app, ["rollback", "--run-id", "no-such-run", "--report-dir", str(tmp_path), "--yes"]
    )
    assert unknown.exit_code == 2 and "no report of that run" in unknown.output
    assert fleet.api_calls() == calls


@pytest.mark.usefixtures("prefect_harness")
def test_the_cli_rolls_back_a_failed_patch_through_the_aws_adapter(
    config, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    members = ids("f4", 4)
    failing = members[1]
    backing, clock = world(spec([group("a", members)], failing_ids=[failing]), config.baselines)
    before = dict(backing.instance(failing).inventory.present)
    adapter, emulator = emulated_aws_fleet(backing)
    handle = FleetHandle(adapter, clock, "aws (emulated)")
    win = window([{"name": "only", "max_concurrency": "2", "max_errors": "1"}], snapshot=SNAPSHOTS)

    @flow(name="window-with-snapshots")
    def go() -> Report:
        return run_window(handle, win, report_dir=str(tmp_path))

    report = go()
    got = {i.instance_id: i for i in report.instances}
    assert got[failing].outcome == Outcome.FAILED_INSTALL
    assert all(len(i.snapshots) == 1 for i in report.instances)
    assert "CreateSnapshots" in emulator.calls

    monkeypatch.setattr("flows.rollback.open_fleet", lambda *a, **k: handle)
    declined = runner.invoke(
        app, ["rollback", "--run-id", report.run_id, "--report-dir", str(tmp_path)], input="n\n"
    )
    assert declined.exit_code == 1 and "CreateReplaceRootVolumeTask" not in emulator.calls
    done = runner.invoke(
        app,
        ["rollback", "--run-id", report.run_id, "--report-dir", str(tmp_path), "--yes"],
        env={"COLUMNS": "200"},
    )
    assert done.exit_code == 0, done.output
    assert f"{failing}: restored" in done.output
    assert emulator.calls.count("CreateReplaceRootVolumeTask") == 1
    assert "DescribeReplaceRootVolumeTasks" in emulator.calls
    assert backing.instance(failing).inventory.present == before

    (path,) = tmp_path.glob(f"*{report.run_id}*.json")
    saved = json.loads(path.read_text())
    (section,) = saved["rollbacks"]
    (entry,) = section["entries"]
    assert entry["instance_id"] == failing and entry["result"] == "restored"
    assert entry["snapshot_id"] == got[failing].snapshots[0] and entry["task_id"].startswith("replacevol-")
    assert "## Rollback" in path.with_suffix(".md").read_text()
    assert f"<td>{failing}</td><td>{entry['snapshot_id']}</td>" in path.with_suffix(".html").read_text()

    # every EC2 call the adapter made is allowed by config/iam-policy.json
    performed = adapter.clients.counter.actions
    assert {"ec2:CreateSnapshots", "ec2:CreateReplaceRootVolumeTask"} <= performed
    assert [a for a in sorted(performed) if not allowed(a)] == []

    store = open_store(load_history_settings("config"))
    try:
        recorded = [r for r in store.runs() if r.run_id == section["rollback_id"]]
    finally:
        store.close()
    assert [(r.kind, r.instances[0].outcome) for r in recorded] == [("rollback", "rolled_back")]
