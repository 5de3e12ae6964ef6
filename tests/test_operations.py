"""Operating windows: emergency runs, cut-off, retries, approvals, and no two runs on one
instance at once; all through real Prefect flows under the test harness."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
import yaml
from prefect import flow

from flows.emergency_patch import emergency_patch
from flows.patch_window import patch_window, run_window
from flows.retry_failed import retry_failed
from patchwave.connect import FleetHandle
from patchwave.state.leases import MemoryLeases
from patchwave.state.ledger import peek
from patchwave.window.emergency import EmergencyRequest, emergency_window
from patchwave.window.outcomes import Outcome
from patchwave.window.retry import find_report
from tests.helpers import group, ids, spec, window, world

pytestmark = pytest.mark.usefixtures("prefect_harness")

WEB = ids("a0", 10)
API = ids("a1", 4)


def fleet_spec(**behaviour):
    return spec(
        [
            group("web", WEB, tags={"Patch Group": "Critical", "Role": "web"}),
            group("api", API, platform="UBUNTU", tags={"Role": "api"}),
        ],
        **behaviour,
    )


def write_world(tmp_path: Path, config, windows: list[dict], **behaviour) -> tuple[Path, Path]:
    folder = tmp_path / "config"
    folder.mkdir(exist_ok=True)
    (folder / "baselines.yaml").write_text(yaml.safe_dump(config.baselines.model_dump(mode="json")))
    (folder / "windows.yaml").write_text(yaml.safe_dump({"windows": windows}))
    fleet_file = tmp_path / "fleet.yaml"
    fleet_file.write_text(yaml.safe_dump(fleet_spec(**behaviour).model_dump(mode="json")))
    return folder, fleet_file


def test_emergency_patch_goes_canary_first_with_the_named_patches(config, tmp_path: Path) -> None:
    folder, fleet_file = write_world(tmp_path, config, [])
    request = EmergencyRequest(
        reason="CVE-2026-0001 in openssl",
        tags={"Role": ["web"]},
        patches=["ALAS2023-2026-1107"],
        max_concurrency="50%",
        max_errors="1",
    )
    state = emergency_patch(
        request=request,
        config_dir=str(folder),
        fleet=f"sim:{fleet_file}",
        report_dir=str(tmp_path / "reports"),
        return_state=True,
    )
    assert state.is_completed(), state.message
    data = json.loads(next((tmp_path / "reports").glob("emergency-*.json")).read_text())
    assert data["reason"] == "CVE-2026-0001 in openssl"
    assert [w["name"] for w in data["waves"]] == ["canary", "emergency"]
    assert data["waves"][0]["counts"] == {"patched": 1}
    assert {i["instance_id"] for i in data["instances"]} == set(WEB)  # only the tagged ones


def test_emergency_parameters_are_validated_before_any_fleet_call(tmp_path: Path) -> None:
    state = emergency_patch(request={"reason": "x"}, fleet="sim:does-not-exist.yaml", return_state=True)
    assert state.is_failed()
    with pytest.raises(Exception, match="reason"):
        state.result()
    with pytest.raises(ValueError, match="name the targets"):
        EmergencyRequest(reason="valid reason")
    assert (
        len(emergency_window(EmergencyRequest(reason="abc", instance_ids=[WEB[0]], canary=False)).waves) == 1
    )


def test_cutoff_stops_the_window_and_the_run_ends_cut_off(config, tmp_path: Path) -> None:
    win = window(
        [{"name": "slow", "max_concurrency": "1"}, {"name": "later"}], duration_hours=2, cutoff_hours=1
    )
    folder, fleet_file = write_world(
        tmp_path, config, [win.model_dump(mode="json")], install_minutes_by_id={m: 25.0 for m in WEB + API}
    )
    state = patch_window(
        window="test-window",
        config_dir=str(folder),
        fleet=f"sim:{fleet_file}",
        report_dir=str(tmp_path / "r"),
        return_state=True,
    )
    assert state.is_failed() and "cut_off" in state.message
    data = json.loads(next((tmp_path / "r").glob("*.json")).read_text())
    assert data["status"] == "cut_off"
    statuses = [w["status"] for w in data["waves"]]
    assert statuses == ["cut_off", "cut_off"]
    started = [i for i in data["instances"] if i["command_id"]]
    assert 2 <= len(started) <= 3  # 25 minutes each, one at a time, nothing new after an hour
    assert all(i["outcome"] == "not_attempted" for i in data["instances"] if not i["command_id"])


def test_retry_runs_only_what_failed_in_its_wave_with_the_same_snapshot(config, tmp_path: Path) -> None:
    waves = [
        {"name": "canary", "select": {"count": 1}, "max_concurrency": "1", "max_errors": "0"},
        {"name": "rest", "max_concurrency": "50%", "max_errors": "0"},
    ]
    folder, fleet_file = write_world(
        tmp_path, config, [window(waves).model_dump(mode="json")], failing_ids=[WEB[3]]
    )
    first = patch_window(
        window="test-window",
        config_dir=str(folder),
        fleet=f"sim:{fleet_file}",
        report_dir=str(tmp_path / "r"),
        return_state=True,
    )
    assert first.is_failed()
    report_path = next((tmp_path / "r").glob("*.json"))
    earlier = json.loads(report_path.read_text())
    retried = {
        i["instance_id"] for i in earlier["instances"] if i["outcome"] in ("failed_install", "not_attempted")
    }
    assert WEB[3] in retried and len(retried) >= 2
    second = retry_failed(
        report=str(report_path),
        config_dir=str(folder),
        fleet=f"sim:{fleet_file}",
        report_dir=str(tmp_path / "r2"),
        return_state=True,
    )
    data = json.loads(next((tmp_path / "r2").glob("*.json")).read_text())
    assert {i["instance_id"] for i in data["instances"]} == retried
    assert data["snapshot_id"] == earlier["snapshot_id"] and data["retry_of"] == earlier["run_id"]
    assert [w["name"] for w in data["waves"]] == ["rest"]  # the canary had succeeded
    outcomes = {i["instance_id"]: i["outcome"] for i in data["instances"]}
    assert outcomes[WEB[3]] == "failed_install"  # it still fails
    assert second.is_failed()
    by_run_id = retry_failed(
        run_id=earlier["run_id"],
        config_dir=str(folder),
        fleet=f"sim:{fleet_file}",
        report_dir=str(tmp_path / "r"),
        return_state=True,
    )
    assert by_run_id.state_details.flow_run_id is not None


def _wait_for_paused(name: str, timeout: float = 60):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName

    deadline = time.monotonic() + timeout
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=[name])))
            for run in runs:
                if run.state is not None and run.state.is_paused():
                    return run.id
            time.sleep(0.5)
    raise AssertionError("the run never paused for approval")


def _approval_run(config, tmp_path: Path, name: str, timeout_minutes: float):
    fleet, clock = world(fleet_spec(), config.baselines)
    win = window(
        [
            {"name": "canary", "select": {"count": 1}, "max_concurrency": "1"},
            {"name": "rest", "max_concurrency": "50%", "require_approval": True},
        ],
        approval_timeout_minutes=timeout_minutes,
    )
    result: dict = {}

    @flow(name="approval-test", flow_run_name=name)
    def go():
        return run_window(FleetHandle(fleet, clock, "test"), win, report_dir=str(tmp_path / name))

    thread = threading.Thread(target=lambda: result.setdefault("report", go()))
    thread.start()
    return thread, result, fleet


def test_approval_with_an_exclusion_is_recorded(config, tmp_path: Path) -> None:
    from prefect.flow_runs import resume_flow_run

    from flows.approval import ApprovalInput

    thread, result, fleet = _approval_run(config, tmp_path, "approve-me", 10)
    run_id = _wait_for_paused("approve-me")
    resume_flow_run(
        run_id,
        run_input=ApprovalInput(
            exclude_instances=[API[0]], decided_by="alice", note="api-0 hosts a demo"
        ).model_dump(),
    )
    thread.join(timeout=60)
    report = result["report"]
    (decision,) = report.decisions
    assert (decision.wave, decision.decision, decision.decided_by) == ("rest", "approved", "alice")
    outcomes = {i.instance_id: i for i in report.instances}
    assert outcomes[API[0]].outcome == Outcome.NOT_ATTEMPTED and "alice" in outcomes[API[0]].error
    assert API[0] not in fleet.touched - {
        c for cmd in fleet.sent if cmd.operation == "Scan" for c in cmd.instance_ids
    }
    assert report.status in ("succeeded", "succeeded_with_errors")


def test_no_answer_aborts_the_window(config, tmp_path: Path) -> None:
    thread, result, _ = _approval_run(config, tmp_path, "nobody-answers", 0.05)
    thread.join(timeout=60)
    report = result["report"]
    assert report.status == "aborted"
    assert report.decisions[0].decision == "timed_out"
    assert {w.name: w.status for w in report.waves} == {"canary": "completed", "rest": "aborted"}


def _concurrent(config, tmp_path: Path, overlap_wait: int):
    from patchwave.clock import ScaledClock
    from patchwave.sim.fleet import SimulatedFleet

    spec_ = fleet_spec(install_minutes_by_id={m: 20.0 for m in WEB + API})
    clock = ScaledClock(spec_.start, speed=600)  # real time passes: the two runs interleave
    fleet = SimulatedFleet(spec_, config.baselines, clock)
    leases = MemoryLeases()
    scheduled = window(
        [{"name": "all", "max_concurrency": "4", "max_errors": "100%"}], overlap_wait_minutes=overlap_wait
    )
    urgent = emergency_window(
        EmergencyRequest(
            reason="urgent", instance_ids=WEB[:6], canary=False, max_concurrency="6", max_errors="100%"
        )
    )
    urgent = urgent.model_copy(update={"overlap_wait_minutes": overlap_wait})
    reports: dict = {}

    def run(win, key: str):
        @flow(name=f"concurrent-{key}")
        def go():
            return run_window(
                FleetHandle(fleet, clock, key, leases=leases), win, report_dir=str(tmp_path / key)
            )

        reports[key] = go()

    first = threading.Thread(target=run, args=(scheduled, "window"))
    first.start()
    deadline = time.monotonic() + 60
    while not any(c.operation == "Install" for c in fleet.sent) and time.monotonic() < deadline:
        time.sleep(0.01)  # the scheduled window is installing: now the emergency arrives
    second = threading.Thread(target=run, args=(urgent, "emergency"))
    second.start()
    first.join(timeout=120)
    second.join(timeout=120)
    return fleet, reports


def test_two_concurrent_runs_never_operate_on_one_instance_at_once(config, tmp_path: Path) -> None:
    fleet, reports = _concurrent(config, tmp_path, overlap_wait=24 * 60)
    assert not fleet.overlaps
    for report in reports.values():
        assert all(i.outcome in (Outcome.PATCHED, Outcome.ALREADY_COMPLIANT) for i in report.instances), (
            report.totals
        )


def test_the_later_run_gives_up_on_shared_instances_after_its_wait(config, tmp_path: Path) -> None:
    fleet, reports = _concurrent(config, tmp_path, overlap_wait=0)
    assert not fleet.overlaps
    waited = [
        i
        for r in reports.values()
        for i in r.instances
        if i.outcome == Outcome.NOT_ATTEMPTED and "was operating on it" in i.error
    ]
    assert waited, {k: r.totals for k, r in reports.items()}
    assert all(i.instance_id in WEB[:6] for i in waited)


def test_a_retried_run_repeats_no_finished_wave_and_only_the_failed_instances(config, tmp_path: Path) -> None:
    """What Prefect's Retry does (here through flow retries): the same flow run, attempt 2."""
    ordered = sorted(WEB + API)
    flaky = ordered[2]  # the one instance of the second wave
    fleet, clock = world(fleet_spec(flaky_ids=[flaky]), config.baselines)
    win = window(
        [
            {"name": "first", "select": {"count": 2}, "max_concurrency": "2"},
            {"name": "second", "select": {"count": 1}, "max_concurrency": "1", "max_errors": "0"},
            {"name": "rest", "max_concurrency": "50%"},
        ]
    )

    @flow(name="retried-window", retries=1, retry_delay_seconds=0)
    def go():
        from flows.patch_window import final_state

        return final_state(run_window(FleetHandle(fleet, clock, "test"), win, report_dir=str(tmp_path / "r")))

    state = go(return_state=True)
    assert state.is_completed(), state.message
    first, later = sorted((tmp_path / "r").glob("*.json"), key=lambda p: "attempt2" in p.name)
    assert "attempt2" in later.name  # one report per attempt, never overwritten
    assert json.loads(first.read_text())["status"] == "halted"
    second_attempt = json.loads(later.read_text())
    run_id = second_attempt["run_id"]
    assert find_report(tmp_path / "r", run_id) == later  # the run's current report: its last attempt
    assert second_attempt["status"] == "succeeded"
    ledger_file = next((tmp_path / "r" / ".runs").glob("*.jsonl"))
    ledger = peek(ledger_file)
    assert [e["status"] for e in ledger if e["kind"] == "finished"] == ["halted", "succeeded"]
    assert len([e for e in ledger if e["kind"] == "plan"]) == 1  # planned once, in the first attempt
    installs: dict[str, int] = {}
    for command in fleet.sent:
        if command.operation == "Install":
            for iid in command.instance_ids:
                installs[iid] = installs.get(iid, 0) + 1
    assert installs[flaky] == 2  # only the failed instance ran again
    assert all(count == 1 for iid, count in installs.items() if iid != flaky)
    scans = [c for c in fleet.sent if c.operation == "Scan" and len(c.instance_ids) == len(WEB + API)]
    assert len(scans) == 1  # the first attempt's scan and plan were reused, not repeated
    assert {w["name"]: w["status"] for w in second_attempt["waves"]} == {
        "first": "completed",
        "second": "completed",
        "rest": "completed",
    }
