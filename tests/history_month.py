"""A simulated month of windows and daily scans, run through the real flows, with the evidence
the simulator keeps on the side (what it reported, what it installed and when), so the history
tests can check every figure against numbers computed independently of the history code."""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import shutil
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from flows.compliance_scan import compliance_scan
from flows.patch_window import patch_window
from patchwave.baselines.catalog import builtin_catalog
from patchwave.baselines.evaluate import evaluate
from patchwave.connect import FleetHandle
from patchwave.sim.fleet import SimulatedFleet
from tests.helpers import START, group, ids, spec, world

ROOT = Path(__file__).resolve().parent.parent
FULL = os.environ.get("PATCHWAVE_FULL") == "1"
CANARY, WEB, UBUNTU, WIN, PROD, OFFLINE = (
    ids("d0", 2),
    ids("d1", 6),
    ids("d2", 3),
    ids("d3", 2),
    ids("d4", 3),
    ids("d5", 1),
)
TEST_IDS = CANARY + WEB + UBUNTU + WIN + OFFLINE
ALL_IDS = TEST_IDS + PROD
SLA = {"CRITICAL": 7, "HIGH": 30, "MEDIUM": 90}
DAYS = 29
WINDOW_DAYS = {0, 7, 14, 21, 28}
SCAN_DAYS = set(range(DAYS)) - WINDOW_DAYS if FULL else {2, 4, 9, 11, 16, 18, 23, 25}


def month_spec() -> Any:
    return spec(
        [
            group("canary", CANARY, tags={"Wave": "canary", "Patch Group": "Critical"}),
            group("web", WEB, tags={"Patch Group": "Critical"}),
            group("ubuntu", UBUNTU, platform="UBUNTU"),
            group("win", WIN, platform="WINDOWS"),
            group("offline", OFFLINE, ping_status="ConnectionLost"),
            {"name": "prod", "ids": PROD, "platform": "AMAZON_LINUX_2023", "tags": {"Workload": "Prod"}},
        ],
        seed=11,
        missing_rate=0.4,
        flaky_ids=[WEB[1]],
        failing_ids=[WEB[4]],
    )


WINDOW = {
    "name": "weekly",
    "schedule": {"cron": "0 3 * * SUN"},
    "targets": {"tags": {"Workload": ["Test"]}},
    "timeouts": {"install_minutes": 90, "scan_minutes": 20, "reboot_minutes": 15},
    "waves": [
        {
            "name": "canary",
            "select": {"tags": {"Wave": ["canary"]}},
            "max_concurrency": "1",
            "max_errors": "0",
        },
        {"name": "rest", "max_concurrency": "50%", "max_errors": "50%"},
    ],
}


def write_config(folder: Path, url: str, **history: Any) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "config" / "baselines.yaml", folder / "baselines.yaml")
    (folder / "windows.yaml").write_text(yaml.safe_dump({"windows": [WINDOW]}))
    settings = {"store": {"url": url, "retention_days": 400}, "sla_days": SLA, **history}
    (folder / "history.yaml").write_text(yaml.safe_dump(settings))
    return folder


@dataclass
class Seen:
    """What the simulator itself said after one run (its own reports and inventory)."""

    kind: str
    ids: list[str]
    compliant: dict[str, bool]
    severities: dict[str, set[str]]  # instance -> severities with a non-compliant patch
    observed_at: dict[str, dt.datetime]
    missing: dict[str, dict[str, str]]  # instance -> patch -> severity (MISSING or FAILED)


@dataclass
class Month:
    fleet: SimulatedFleet
    config_dir: Path
    report_dir: Path
    seen: list[Seen] = field(default_factory=list)
    run_ids: list[str] = field(default_factory=list)

    def reports(self) -> dict[str, dict[str, Any]]:
        found = {}
        for path in self.report_dir.glob("*.json"):
            data = json.loads(path.read_text())
            found[data["run_id"]] = data
        return found


def observe(fleet: SimulatedFleet, kind: str, wanted: list[str]) -> Seen:
    states = fleet.patch_states(wanted)
    summaries = fleet.compliance(wanted)
    present = [i for i in wanted if i in summaries]
    missing: dict[str, dict[str, str]] = {}
    for iid in present:
        inst = fleet.instance(iid)
        baseline = fleet.resolver.for_instance(inst.platform, inst.patch_group or None)
        on = fleet._snapshots[states[iid].snapshot_id]
        verdicts = evaluate(baseline, builtin_catalog(baseline.operating_system).patches, on)
        missing[iid] = {
            v.patch.id: v.compliance_level
            for v in verdicts
            if v.patch.id in inst.inventory.applicable
            and (
                inst.inventory.present.get(v.patch.id) == "FAILED"
                or (v.installable and inst.inventory.present.get(v.patch.id) is None)
            )
        }
    return Seen(
        kind,
        present,
        {i: summaries[i].compliant for i in present},
        {i: {lvl for lvl, n in summaries[i].non_compliant_by_severity.items() if n} for i in present},
        {i: states[i].operation_end_time for i in present},  # type: ignore[misc]
        missing,
    )


def run_month(tmp_path: Path, url: str, monkeypatch: pytest.MonkeyPatch, config: Any) -> Month:
    fleet, clock = world(month_spec(), config.baselines)
    handle = FleetHandle(fleet, clock, "month fleet")
    # the flows open this one in-process fleet, so a month of runs shares its state and clock
    monkeypatch.setattr("flows.patch_window.open_fleet", lambda *a, **k: handle)
    monkeypatch.setattr("flows.scan_fleet.open_fleet", lambda *a, **k: handle)
    month = Month(fleet, write_config(tmp_path / "config", url), tmp_path / "reports")
    for day in range(DAYS):
        target = START + dt.timedelta(days=day, hours=1)
        clock.sleep((target - clock.now()).total_seconds())
        if day in WINDOW_DAYS:
            state = patch_window(
                window="weekly",
                config_dir=str(month.config_dir),
                report_dir=str(month.report_dir),
                return_state=True,
            )
            assert state.is_final()  # a wave may halt (the failing instance): history records it too
            month.seen.append(observe(fleet, "window", TEST_IDS))
        elif day in SCAN_DAYS:
            # a valid fleet parameter (the flow checks it), though open_fleet gives the month's own
            compliance_scan(config_dir=str(month.config_dir), fleet=f"sim:{ROOT / 'config/fleets/demo.yaml'}")
            month.seen.append(observe(fleet, "scan", ALL_IDS))
    return month


# ------------------------------------------------------------------ independent figures
def expected_trend(month: Month) -> list[tuple[str, int, int, dict[str, int]]]:
    rows = []
    for seen in month.seen:
        by_level: dict[str, int] = defaultdict(int)
        for levels in seen.severities.values():
            for level in levels:
                by_level[level] += 1
        rows.append((seen.kind, len(seen.ids), sum(seen.compliant.values()), dict(by_level)))
    return rows


def installs(fleet: SimulatedFleet) -> dict[tuple[str, str], dt.datetime]:
    """(instance, patch) -> end of the first successful Install that carried it. A dependency
    the simulator installs on an instance it does not apply to is never reported (as on AWS:
    NOT_APPLICABLE is not a state history keeps), so it is left out."""
    found: dict[tuple[str, str], dt.datetime] = {}
    for inv in fleet.invocations():
        if (
            inv.operation == "Install"
            and inv.final_status == "Success"
            and inv.cancelled_at is None
            and inv.end
        ):
            applicable = fleet.instance(inv.instance_id).inventory.applicable
            for pid in (p for p in inv.install if p in applicable):
                found.setdefault((inv.instance_id, pid), inv.end)
                found[(inv.instance_id, pid)] = min(found[(inv.instance_id, pid)], inv.end)
    return found


def catalog_patch(fleet: SimulatedFleet, iid: str, pid: str) -> tuple[dt.date, str]:
    inst = fleet.instance(iid)
    baseline = fleet.resolver.for_instance(inst.platform, inst.patch_group or None)
    on = (START + dt.timedelta(days=DAYS)).date()  # every patch of the month approved by then
    verdicts = evaluate(baseline, builtin_catalog(baseline.operating_system).patches, on)
    verdict = next(v for v in verdicts if v.patch.id == pid)
    return verdict.patch.release_date, verdict.compliance_level


def first_seen(month: Month) -> dict[tuple[str, str], dt.datetime]:
    order = sorted(
        ((seen.observed_at[i], n, i, seen) for n, seen in enumerate(month.seen) for i in seen.ids),
        key=lambda item: (item[0], item[1]),
    )
    found: dict[tuple[str, str], dt.datetime] = {}
    for at, _, iid, seen in order:
        for pid in seen.missing[iid]:
            found.setdefault((iid, pid), at)
    return found


def nearest_rank_p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[math.ceil(0.9 * len(ordered)) - 1]


def expected_time_to_patch(month: Month, basis: str) -> dict[str, tuple[int, float, float]]:
    seen_missing = first_seen(month)
    samples: dict[str, list[float]] = defaultdict(list)
    for (iid, pid), end in installs(month.fleet).items():
        release, level = catalog_patch(month.fleet, iid, pid)
        if basis == "release":
            start = dt.datetime.combine(release, dt.time(), tzinfo=dt.UTC)
        elif (iid, pid) in seen_missing and seen_missing[(iid, pid)] <= end:
            start = seen_missing[(iid, pid)]
        else:
            continue
        samples[level].append((end - start).total_seconds() / 86400)
    return {k: (len(v), sum(v) / len(v), nearest_rank_p90(v)) for k, v in samples.items()}


def expected_breaches(month: Month) -> set[tuple[str, str, bool]]:
    done = installs(month.fleet)
    as_of = max(at for seen in month.seen for at in seen.observed_at.values())
    last_missing: dict[str, dict[str, str]] = {}
    for seen in month.seen:
        for iid in seen.ids:
            last_missing[iid] = seen.missing[iid]
    found: set[tuple[str, str, bool]] = set()
    for (iid, pid), end in done.items():
        release, level = catalog_patch(month.fleet, iid, pid)
        if level in SLA and end > dt.datetime.combine(release, dt.time(), tzinfo=dt.UTC) + dt.timedelta(
            SLA[level]
        ):
            found.add((iid, pid, False))
    for iid, patches in last_missing.items():
        for pid, level in patches.items():
            release, _ = catalog_patch(month.fleet, iid, pid)
            due = dt.datetime.combine(release, dt.time(), tzinfo=dt.UTC) + dt.timedelta(SLA.get(level, 10**6))
            if level in SLA and (iid, pid) not in done and as_of > due:
                found.add((iid, pid, True))
    return found


def expected_fell_out(month: Month) -> set[tuple[str, dt.datetime]]:
    by_instance: dict[str, list[tuple[dt.datetime, int, bool]]] = defaultdict(list)
    for n, seen in enumerate(month.seen):
        for iid in seen.ids:
            by_instance[iid].append((seen.observed_at[iid], n, seen.compliant[iid]))
    found = set()
    for iid, points in by_instance.items():
        points.sort(key=lambda p: (p[0], p[1]))
        for (_, _, before), (at, _, after) in zip(points, points[1:], strict=False):
            if before and not after:
                found.add((iid, at))
    return found
