"""Throttling and transient faults on the AWS path: with 20% of Systems Manager calls throttled
and 2% failing (500 before or after the work, dropped connections), a window ends with exactly
the per-instance outcomes of a clean run, and no instance is started twice. botocore's own
retries (adaptive mode) and patchwave's SendCommand recovery do the work; only their sleeping is
skipped to keep the test fast."""

from __future__ import annotations

import time
import types
from pathlib import Path

import boto3
import pytest
from prefect import flow

from flows.patch_window import run_window
from patchwave.aws.fleet import AwsFleet
from patchwave.aws.session import AwsClients
from patchwave.config.aws import AwsSettings
from patchwave.connect import FleetHandle
from tests.aws_emulator import Emulator
from tests.helpers import group, ids, spec, window, world

pytestmark = pytest.mark.usefixtures("prefect_harness")
MEMBERS = ids("e7", 24)
WAVES = [
    {"name": "canary", "select": {"count": 2}, "max_concurrency": "1", "max_errors": "1"},
    {"name": "rest", "max_concurrency": "6", "max_errors": "50%"},
]


def fleet_spec():
    return spec(
        [
            group("web", MEMBERS[:16], tags={"Patch Group": "Critical"}),
            group("api", MEMBERS[16:], platform="UBUNTU"),
        ],
        failing_ids=[MEMBERS[5]],
        stuck_ids=[MEMBERS[9]],
        reboot_hang_ids=[MEMBERS[18]],
        seed=11,
    )


def run(handle: FleetHandle, tmp_path: Path, name: str):
    @flow(name=f"faults-{name}")
    def go():
        return run_window(
            handle,
            window(WAVES, timeouts={"install_minutes": 60, "scan_minutes": 20, "reboot_minutes": 15}),
            report_dir=str(tmp_path / name),
        )

    return go()


def test_throttling_and_transient_errors_change_no_outcome(config, tmp_path: Path, monkeypatch) -> None:
    no_sleep = types.SimpleNamespace(**{k: getattr(time, k) for k in dir(time) if not k.startswith("_")})
    no_sleep.sleep = lambda seconds: None
    monkeypatch.setattr("botocore.endpoint.time", no_sleep)
    monkeypatch.setattr("botocore.retries.bucket.time", no_sleep)
    monkeypatch.setattr("tenacity.nap.time", no_sleep)  # only these modules: Prefect keeps its own sleep
    # adaptive mode's client-side rate limiter waits on a condition in real time; the retry
    # decisions under test are the same in standard mode, whose back-off sleeps are skipped above
    from botocore.config import Config

    monkeypatch.setattr(
        "patchwave.aws.session.RETRIES", Config(retries={"mode": "standard", "max_attempts": 10})
    )

    sim, clock = world(fleet_spec(), config.baselines)
    clean = run(FleetHandle(sim, clock, "clean"), tmp_path, "clean")

    backing, backing_clock = world(fleet_spec(), config.baselines)
    session = boto3.Session(aws_access_key_id="x", aws_secret_access_key="y", region_name="eu-west-1")
    emulator = Emulator(backing)
    emulator.install_http(session, throttle_rate=0.20, error_rate=0.02, seed=3)
    aws = AwsFleet(AwsClients(session), AwsSettings(region="eu-west-1"), clock=backing_clock)
    faulty = run(FleetHandle(aws, backing_clock, "faulty aws"), tmp_path, "faulty")

    assert emulator.faults["throttled"] > 20
    assert sum(v for k, v in emulator.faults.items() if k != "throttled") >= 2
    outcome = lambda report: {i.instance_id: i.outcome for i in report.instances}  # noqa: E731
    assert outcome(faulty) == outcome(clean)
    starts: dict[str, int] = {}
    for command in backing.sent:
        if command.operation == "Install":
            for iid in command.instance_ids:
                starts[iid] = starts.get(iid, 0) + 1
    assert starts and set(starts.values()) == {1}  # no instance started twice
    assert not backing.overlaps
