"""The report's per-instance patch lists (issue 12, drill-down): what was missing before the
run and how it stood after (installed, failed), with severity and classification, in the JSON
report, the Markdown and the HTML page; on the simulator and through the AWS adapter against the
emulator (every DescribeInstancePatches request validated by botocore)."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import boto3
import pytest
from prefect import flow

from flows.patch_window import run_window
from patchwave.aws.fleet import AwsFleet
from patchwave.aws.session import AwsClients
from patchwave.config.aws import AwsSettings
from patchwave.config.windows import Window
from patchwave.connect import FleetHandle
from patchwave.fleet import InstancePatch
from patchwave.reports.patch_lists import before_and_after
from patchwave.reports.render import to_html, to_markdown
from patchwave.reports.report import Report
from tests.aws_emulator import Emulator
from tests.helpers import START, group, ids, spec, window, world

pytestmark = pytest.mark.usefixtures("prefect_harness")

WEB = ids("c0", 4)
WIN = ids("c1", 2)
FAILING = WEB[0]
NON_COMPLIANT = {"MISSING", "FAILED", "INSTALLED_PENDING_REBOOT", "INSTALLED_REJECTED"}


def fleet_spec():
    return spec(
        [group("web", WEB), group("win", WIN, platform="WINDOWS")],
        failing_ids=[FAILING],
        applicable_rate=1.0,
    )


WINDOW = window([{"name": "all", "max_concurrency": "10", "max_errors": "5"}], patch_lists="all")


def run(handle: FleetHandle, folder: Path, spec: Window = WINDOW) -> tuple[Report, dict]:
    @flow(name="patch-lists")
    def go() -> Report:
        return run_window(handle, spec, report_dir=str(folder), report_json=str(folder / "r.json"))

    report = go()
    return report, json.loads((folder / "r.json").read_text())


def missing_before(sim, now: dt.datetime, per_package: bool) -> dict[str, set[str]]:
    """The simulator's evidence, uncharged: the patches each instance misses before the run."""
    found: dict[str, set[str]] = {}
    for iid, patches in sim.instance_patches_of(WEB + WIN, None, now).items():
        found[iid] = {
            kb for p in patches if p.state in NON_COMPLIANT for kb in (p.kb_ids if per_package else (p.id,))
        }
    return found


def check(report: Report, data: dict, before: dict[str, set[str]]) -> None:
    by_id = {i["instance_id"]: i for i in data["instances"]}
    outcomes = {iid: i["outcome"] for iid, i in by_id.items()}
    assert outcomes[FAILING] == "failed_install" and list(outcomes.values()).count("patched") >= 4
    for iid, item in by_id.items():
        lists = item["patches"]
        if item["outcome"] != "patched" and iid != FAILING:
            assert lists is None
            continue
        assert {p["id"] for p in lists["before"]} == before[iid], iid  # exactly what was missing
        assert [p["id"] for p in lists["after"]] == [p["id"] for p in lists["before"]]
        assert all(p["state"] == "MISSING" for p in lists["before"])
        assert all(p["severity"] or p["classification"] for p in lists["before"])
        after = {p["state"] for p in lists["after"]}
        if iid == FAILING:
            assert "FAILED" in after  # the install that failed, and the patch it failed on
        else:
            assert after <= {"INSTALLED", "INSTALLED_OTHER"}, (iid, after)
    markdown, page = to_markdown(report), to_html(report)
    compact = to_markdown(report, compact=True)
    failed_patch = next(p["id"] for p in by_id[FAILING]["patches"]["after"] if p["state"] == "FAILED")
    escaped = failed_patch.replace("_", "\\_")  # Markdown escapes (x86_64)
    assert "## Patches by instance" in markdown and escaped in markdown
    assert f"{escaped} FAILED" in compact and "missing before:" in compact
    assert page.count("<details class='patches'>") == sum(1 for i in by_id.values() if i["patches"])
    failing_row = next(r for r in page.split("<tr data-outcome=")[1:] if FAILING in r)
    assert (
        "<details class='patches'>" in failing_row
        and re.search(r"\d failed", failing_row)
        and failed_patch in failing_row
    )


def test_patch_lists_on_the_simulator_and_through_the_adapter(config, tmp_path: Path) -> None:
    sim, clock = world(fleet_spec(), config.baselines)
    sim_before = missing_before(sim, clock.now(), per_package=False)
    direct, direct_data = run(FleetHandle(sim, clock, "simulator"), tmp_path / "sim")
    check(direct, direct_data, sim_before)

    backing, bclock = world(fleet_spec(), config.baselines)
    aws_before = missing_before(backing, bclock.now(), per_package=True)
    session = boto3.Session(aws_access_key_id="x", aws_secret_access_key="y", region_name="eu-west-1")
    emulator = Emulator(backing)
    emulator.install(session)
    adapter = AwsFleet(AwsClients(session), AwsSettings.model_validate({"region": "eu-west-1"}), bclock)
    through_aws, aws_data = run(FleetHandle(adapter, bclock, "aws (emulated)"), tmp_path / "aws")
    check(through_aws, aws_data, aws_before)  # one line per package (KBId name.arch), as AWS lists them

    assert {i.instance_id: i.outcome for i in through_aws.instances} == {
        i.instance_id: i.outcome for i in direct.instances
    }
    asked = sum(1 for i in direct.instances if i.command_id)
    assert (
        direct.api_calls["DescribeInstancePatches"]
        == through_aws.api_calls["DescribeInstancePatches"]
        == asked
    )


def test_by_default_only_instances_not_patched_get_lists(config, tmp_path: Path) -> None:
    """One DescribeInstancePatches per instance: a large window reads only where it failed."""
    sim, clock = world(fleet_spec(), config.baselines)
    quiet = window([{"name": "all", "max_concurrency": "10", "max_errors": "5"}])
    assert quiet.patch_lists == "failed"
    report, data = run(FleetHandle(sim, clock, "simulator"), tmp_path, quiet)
    not_patched = {i.instance_id for i in report.instances if i.command_id and i.outcome != "patched"}
    assert not_patched and report.api_calls["DescribeInstancePatches"] == len(not_patched)
    with_lists = {i["instance_id"] for i in data["instances"] if i["patches"]}
    assert with_lists and with_lists <= not_patched


def test_lists_keep_only_what_changed_or_is_still_missing() -> None:
    start = START
    patches = [
        InstancePatch(
            "old", "INSTALLED", "Critical", "Security", installed_time=start - dt.timedelta(days=3)
        ),
        InstancePatch(
            "new", "INSTALLED", "Important", "Security", installed_time=start + dt.timedelta(hours=1)
        ),
        InstancePatch(
            "kb-day", "INSTALLED", "Critical", "SecurityUpdates", installed_time=START.replace(hour=0)
        ),
        InstancePatch("still", "MISSING", "Low", "Bugfix"),
        InstancePatch("broke", "FAILED", "Critical", "Security"),
        InstancePatch("na", "NOT_APPLICABLE", "Low", "Bugfix"),
        InstancePatch(
            "pend",
            "INSTALLED_PENDING_REBOOT",
            "High",
            "Security",
            installed_time=start - dt.timedelta(days=1),
        ),
    ]
    lists = before_and_after(patches, start)
    assert lists is not None
    before = {p.id: p.state for p in lists.before}
    after = {p.id: p.state for p in lists.after}
    # a date-only InstalledTime (Windows) on the run's first day counts as installed in the run
    assert before == {
        "new": "MISSING",
        "kb-day": "MISSING",
        "still": "MISSING",
        "broke": "MISSING",
        "pend": "INSTALLED_PENDING_REBOOT",
    }
    assert after == {**before, "new": "INSTALLED", "kb-day": "INSTALLED", "broke": "FAILED"}
    assert before_and_after([patches[0], patches[5]], start) is None  # nothing to show: nothing kept
