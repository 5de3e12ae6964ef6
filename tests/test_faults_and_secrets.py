"""Faults and secrets: throttling changes no outcome; no credential leaks into reports, logs or
artifacts; tag values are data, never shell or markup; an instance stopped mid-window."""

from __future__ import annotations

import re
from pathlib import Path

import boto3
import pytest
from prefect import flow

from flows.patch_window import run_window
from patchwave.aws.fleet import AwsFleet
from patchwave.aws.session import AwsClients
from patchwave.config.aws import AwsSettings
from patchwave.connect import FleetHandle
from patchwave.window.outcomes import Outcome
from patchwave.window.runner import WaveRunner, WaveSettings
from tests.aws_emulator import Emulator
from tests.helpers import group, ids, plan_for, spec, window, world

ROOT = Path(__file__).resolve().parent.parent
MEMBERS = ids("f1", 40)


def run_wave_on(config, **behaviour):
    fleet, clock = world(spec([group("a", MEMBERS)], failure_rate=0.1, seed=5, **behaviour), config.baselines)
    (wave,) = plan_for(fleet, window([{"name": "all", "max_concurrency": "8", "max_errors": "100%"}])).waves
    result = WaveRunner(fleet, clock, wave, WaveSettings("snap", "run")).run()
    return fleet, {r.instance_id: r.outcome for r in result.results}


def test_heavy_throttling_changes_no_outcome_and_starts_nothing_twice(config) -> None:
    _, clean = run_wave_on(config)
    throttled_fleet, throttled = run_wave_on(
        config, throttling={"enabled": True, "rate_per_second": 0.02, "burst": 1}, api_latency_ms=300
    )
    assert sum(throttled_fleet.throttled.values()) >= 10  # it really was throttled
    assert throttled == clean
    starts: dict[str, int] = {}
    for command in throttled_fleet.sent:
        if command.operation == "Install":
            for iid in command.instance_ids:
                starts[iid] = starts.get(iid, 0) + 1
    assert set(starts.values()) == {1}


def test_an_instance_stopped_mid_window_is_classified_and_counted(config) -> None:
    members = ids("f2", 3)
    fleet, clock = world(
        spec([group("a", members)], install_minutes_by_id={m: 30.0 for m in members}), config.baselines
    )
    (wave,) = plan_for(fleet, window([{"name": "all", "max_concurrency": "1", "max_errors": "5"}])).waves

    class StopsOne:
        def __init__(self, inner):
            self.inner, self.done = inner, False

        def __getattr__(self, name):
            return getattr(self.inner, name)

        def command_progress(self, command_ids):
            if not self.done and any(c.operation == "Install" for c in self.inner.sent):
                self.inner.instance(members[2]).state = "stopped"  # someone stops it while it waits
                self.done = True
            return self.inner.command_progress(command_ids)

    result = WaveRunner(StopsOne(fleet), clock, wave, WaveSettings("snap", "run")).run()
    outcome = {r.instance_id: r for r in result.results}[members[2]]
    assert outcome.outcome == Outcome.SKIPPED_OFFLINE  # Delivery Timed Out: not an error
    assert outcome.status_details == "DeliveryTimedOut"
    assert result.errors == 0


SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYSECRETKEY"
ACCESS_KEY = "AKIAIOSFODNN7SECRET1"
TOKEN = "FwoGZXIvYXdzEXAMPLESESSIONTOKEN"


@pytest.mark.usefixtures("prefect_harness")
def test_no_credential_in_reports_logs_or_artifacts(config, tmp_path: Path, capfd, caplog) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        LogFilter,
        LogFilterFlowRunId,
    )
    from prefect.logging.handlers import APILogWorker

    hostile = "$(reboot) `id`; <script>alert(1)</script>"
    backing, clock = world(
        spec([group("a", ids("f3", 4), tags={"Name": hostile})], failing_ids=[ids("f3", 4)[1]]),
        config.baselines,
    )
    session = boto3.Session(
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        aws_session_token=TOKEN,
        region_name="eu-west-1",
    )
    Emulator(backing).install(session)
    handle = FleetHandle(
        AwsFleet(AwsClients(session), AwsSettings(region="eu-west-1"), clock=clock), clock, "aws"
    )

    @flow(name="secrets-check")
    def go():
        return run_window(
            handle,
            window([{"name": "all", "max_concurrency": "2", "max_errors": "2"}]),
            report_dir=str(tmp_path),
        )

    state = go(return_state=True)
    report = state.result()
    assert report.totals["patched"] == 3 and report.totals["failed_install"] == 1
    texts = [p.read_text() for p in tmp_path.rglob("*") if p.is_file()]  # reports and the run ledger
    run_id = state.state_details.flow_run_id
    APILogWorker.drain_all(timeout=30)  # the logs reach the API before they are read
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run_id]))
        )
        logs = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_id])))
    texts += [str(a.data) for a in artifacts] + [log.message for log in logs]
    captured = capfd.readouterr()
    texts += [captured.out, captured.err, caplog.text]
    for text in texts:
        for secret in (SECRET_KEY, ACCESS_KEY, TOKEN):
            assert secret not in text
    html = next(p for p in tmp_path.iterdir() if p.suffix == ".html").read_text()
    assert "<script>alert" not in html


def test_fleet_data_never_reaches_a_shell() -> None:
    """patchwave starts no process: tags, names and ids are only ever data."""
    pattern = re.compile(r"\b(subprocess|os\.system|os\.popen|shell\s*=\s*True|pty\.spawn)\b")
    for folder in ("patchwave", "flows", "tasks", "deployments"):
        for path in (ROOT / folder).rglob("*.py"):
            assert not pattern.search(path.read_text()), path
