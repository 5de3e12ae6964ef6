"""The Prefect flows, run for real under the Prefect test harness."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from prefect import flow

from flows.patch_window import patch_window, run_window
from flows.scan_fleet import scan_fleet
from patchwave.connect import FleetHandle
from patchwave.reports.report import SCHEMA
from patchwave.window.outcomes import Outcome
from tests.helpers import group, ids, spec, window, world
from tests.invariants import max_concurrent_installs

pytestmark = pytest.mark.usefixtures("prefect_harness")

CANARY = ids("c0", 2)
WEB = ids("c1", 12)
PROD = ids("c2", 3)
OFFLINE = ids("c3", 1)


def fleet_spec(**behaviour):
    return spec(
        [
            group("canary", CANARY, tags={"Wave": "canary", "Patch Group": "Critical"}),
            group("web", WEB, tags={"Patch Group": "Critical"}),
            group("ubuntu", ids("c4", 4), platform="UBUNTU"),
            group("offline", OFFLINE, ping_status="ConnectionLost"),
            {"name": "prod", "ids": PROD, "platform": "AMAZON_LINUX_2023", "tags": {"Workload": "Prod"}},
        ],
        **behaviour,
    )


WAVES = [
    {"name": "canary", "select": {"tags": {"Wave": ["canary"]}}, "max_concurrency": "1", "max_errors": "0"},
    {"name": "half", "select": {"percent": 50}, "max_concurrency": "50%", "max_errors": "25%"},
    {"name": "rest", "max_concurrency": "50%", "max_errors": "25%"},
]


def artifacts_of(flow_run_id) -> list:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    with get_client(sync_client=True) as client:
        return client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
        )


def run_injected(handle: FleetHandle, win, tmp_path: Path):
    @flow(name="patch-window-injected")
    def injected():
        return run_window(handle, win, report_dir=str(tmp_path))

    return injected(return_state=True)


class RecordingNotifier:
    def __init__(self) -> None:
        self.sent: list = []

    def publish(self, report, files):
        self.sent.append((report, files))
        return {"sns": "message-1"}


def test_whole_window_one_outcome_each_same_snapshot_nothing_outside_the_plan(config, tmp_path: Path) -> None:
    fleet, clock = world(fleet_spec(failing_ids=[WEB[3]]), config.baselines)
    notifier = RecordingNotifier()
    handle = FleetHandle(fleet, clock, "test fleet", notifier)
    state = run_injected(handle, window(WAVES), tmp_path)
    assert state.is_completed()
    report = state.result()
    assert report.status == "succeeded_with_errors"
    planned = [i.instance_id for i in report.instances]
    assert sorted(planned) == sorted(CANARY + WEB + ids("c4", 4) + OFFLINE)
    assert len(planned) == len(set(planned))
    by_id = {i.instance_id: i.outcome for i in report.instances}
    assert by_id[WEB[3]] == Outcome.FAILED_INSTALL
    assert by_id[OFFLINE[0]] == Outcome.SKIPPED_OFFLINE
    assert not set(PROD) & fleet.touched and OFFLINE[0] not in fleet.touched
    assert {c.snapshot_id for c in fleet.sent} == {report.snapshot_id}
    assert not fleet.overlaps
    for wave in report.waves:
        members = [i.instance_id for i in report.instances if i.wave == wave.name]
        assert max_concurrent_installs(fleet, members) <= wave.max_concurrency
    assert report.compliance.after is not None
    assert (
        report.compliance.after.instances_by_severity["CRITICAL"]
        < report.compliance.before.instances_by_severity["CRITICAL"]
    )
    assert report.api_calls["SendCommand"] >= 3
    ((sent_report, files),) = notifier.sent  # the summary went out once, with the written files
    assert sent_report.run_id == report.run_id and set(files) == {"json", "markdown", "html"}


def test_failed_canary_halts_the_window_and_the_run_fails_with_its_report(config, tmp_path: Path) -> None:
    fleet, clock = world(fleet_spec(failing_ids=[CANARY[0]]), config.baselines)
    state = run_injected(FleetHandle(fleet, clock, "test"), window(WAVES), tmp_path)
    # run_window itself returns the report; the patch_window flow turns it into a Failed state
    report = state.result()
    assert report.status == "halted"
    statuses = {w.name: w.status for w in report.waves}
    assert statuses == {"canary": "halted", "half": "not_attempted", "rest": "not_attempted"}
    later = [i for i in report.instances if i.wave != "canary" and i.outcome != Outcome.SKIPPED_OFFLINE]
    assert later and all(i.outcome in (Outcome.NOT_ATTEMPTED, Outcome.ALREADY_COMPLIANT) for i in later)
    installed = {iid for cmd in fleet.sent if cmd.operation == "Install" for iid in cmd.instance_ids}
    assert installed == {CANARY[0]}  # the canary's first error stopped everything after it
    assert list(tmp_path.glob("*.json"))


def write_world(tmp_path: Path, config, windows: list[dict], **behaviour) -> tuple[Path, Path]:
    folder = tmp_path / "config"
    folder.mkdir()
    (folder / "baselines.yaml").write_text(yaml.safe_dump(config.baselines.model_dump(mode="json")))
    (folder / "windows.yaml").write_text(yaml.safe_dump({"windows": windows}))
    fleet_file = tmp_path / "fleet.yaml"
    fleet_file.write_text(yaml.safe_dump(fleet_spec(**behaviour).model_dump(mode="json")))
    return folder, fleet_file


def test_patch_window_flow_from_parameters_publishes_report_and_artifacts(config, tmp_path: Path) -> None:
    win = window(WAVES).model_dump(mode="json")
    folder, fleet_file = write_world(tmp_path, config, [win], failing_ids=[CANARY[0]])
    report_json = tmp_path / "out" / "report.json"
    state = patch_window(
        window="test-window",
        config_dir=str(folder),
        fleet=f"sim:{fleet_file}",
        report_dir=str(tmp_path / "reports"),
        report_json=str(report_json),
        return_state=True,
    )
    assert state.is_failed()
    assert "halted" in state.message
    data = json.loads(report_json.read_text())
    assert data["schema"] == SCHEMA and data["status"] == "halted"
    for key in ("window", "snapshot_id", "waves", "instances", "compliance", "api_calls"):
        assert key in data
    assert {"instance_id", "wave", "outcome", "command_id", "status_details", "error"} <= set(
        data["instances"][0]
    )
    assert (tmp_path / "reports").glob("*.html")
    html = next((tmp_path / "reports").glob("*.html")).read_text()
    assert "<!doctype html>" in html and "canary" in html
    kinds = {(a.type, a.key) for a in artifacts_of(state.state_details.flow_run_id)}
    assert ("table", "compliance-test-window") in kinds
    assert ("markdown", "report-test-window") in kinds
    assert ("progress", "wave-canary") in kinds


def test_patch_window_flow_refuses_bad_parameters_before_touching_a_fleet(config, tmp_path: Path) -> None:
    folder, fleet_file = write_world(tmp_path, config, [window(WAVES).model_dump(mode="json")])
    state = patch_window(
        window="no-such-window", config_dir=str(folder), fleet=f"sim:{fleet_file}", return_state=True
    )
    assert state.is_failed()
    with pytest.raises(Exception, match="no such window"):
        state.result()


def test_scan_flow_reports_compliance_by_severity(config, tmp_path: Path) -> None:
    folder, fleet_file = write_world(tmp_path, config, [window(WAVES).model_dump(mode="json")])
    state = scan_fleet(
        config_dir=str(folder), fleet=f"sim:{fleet_file}", window="test-window", return_state=True
    )
    assert state.is_completed()
    result = state.result()
    assert result["total"] == 2 + 12 + 4 + 1
    assert result["instances_by_severity"]["CRITICAL"] == 14  # missing_rate 1.0, Critical group
    assert result["unreported"] == 0
    kinds = {(a.type, a.key) for a in artifacts_of(state.state_details.flow_run_id)}
    assert ("table", "compliance-test-window") in kinds
