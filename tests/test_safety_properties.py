"""Safety invariants, property-based: hypothesis generates fleets, windows and fault schedules;
no run ever touches an instance outside its plan, starts an instance after its wave's error
threshold was exceeded or after the cutoff, exceeds its concurrency, installs a rejected patch
under BLOCK, runs two operations on one instance at once, or leaves a planned instance without
exactly one outcome. The evidence comes from the simulated fleet, not from the runner.

CI runs a small campaign; the long one (2,000 windows or more) is:

    PATCHWAVE_CAMPAIGN=2000 .venv/bin/python -m pytest tests/test_safety_properties.py -q
"""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from patchwave.baselines.catalog import builtin_catalog
from patchwave.baselines.evaluate import evaluate
from patchwave.compliance.scan import run_scan
from patchwave.config.baselines import BaselinesFile
from patchwave.window.outcomes import ERRORS
from patchwave.window.planning import plan_window
from patchwave.window.runner import WaveRunner, WaveSettings, not_run
from patchwave.window.targeting import select
from tests.helpers import spec, window, world
from tests.invariants import max_concurrent_installs

EXAMPLES = int(os.environ.get("PATCHWAVE_CAMPAIGN", "60"))
RUNS: list[int] = []  # windows checked in this session (reported by the campaign)


def hexid(n: int) -> str:
    return f"i-0{n:016x}"


@st.composite
def scenarios(draw: Any) -> dict[str, Any]:
    n = draw(st.integers(1, 30))
    instances = []
    for index in range(n):
        instances.append(
            {
                "id": hexid(index + 1),
                "platform": draw(st.sampled_from(["AMAZON_LINUX_2023", "UBUNTU", "WINDOWS"])),
                "test": draw(st.booleans()) or index == 0,
                "online": draw(st.integers(0, 9)) > 0,
                "canary": draw(st.integers(0, 5)) == 0,
                "group": draw(st.sampled_from(["Critical", None])),
            }
        )
    ids = [i["id"] for i in instances]
    pick = st.lists(st.sampled_from(ids), max_size=max(1, n // 3), unique=True)
    rate = st.one_of(st.integers(1, 8).map(str), st.integers(1, 100).map(lambda p: f"{p}%"))
    errors = st.one_of(st.integers(0, 4).map(str), st.integers(0, 100).map(lambda p: f"{p}%"))
    selector = st.one_of(
        st.none(),
        st.builds(lambda c: {"count": c}, st.integers(1, 10)),
        st.builds(lambda p: {"percent": p}, st.integers(1, 100)),
        st.just({"tags": {"Wave": ["canary"]}}),
    )
    waves = draw(st.lists(st.tuples(selector, rate, errors), min_size=1, max_size=4))
    duration = draw(st.integers(1, 6))
    return {
        "instances": instances,
        "failing": draw(pick),
        "stuck": draw(pick),
        "hang": draw(pick),
        "unhealthy": draw(pick),
        "flaky": draw(pick),
        "reboot_rate": draw(st.sampled_from([None, 0.0, 0.5, 1.0])),
        "missing_rate": draw(st.sampled_from([0.2, 0.6, 1.0])),
        "block": draw(st.booleans()),
        "reboot": draw(st.sampled_from(["if_needed", "never", "controlled"])),
        "waves": [
            {"name": f"w{k}", "select": s, "max_concurrency": c, "max_errors": e}
            for k, (s, c, e) in enumerate(waves)
        ],
        "duration": duration,
        "cutoff": draw(st.integers(0, duration - 1)),
        "install_minutes": draw(st.sampled_from([20, 45, 90])),
        "seed": draw(st.integers(0, 10_000)),
    }


def build(scenario: dict[str, Any], config) -> tuple:
    groups = []
    for item in scenario["instances"]:
        tags = {"Workload": "Test" if item["test"] else "Prod"}
        if item["canary"]:
            tags["Wave"] = "canary"
        if item["group"]:
            tags["Patch Group"] = item["group"]
        groups.append(
            {
                "name": item["id"][2:],
                "ids": [item["id"]],
                "platform": item["platform"],
                "tags": tags,
                "ping_status": "Online" if item["online"] else "ConnectionLost",
            }
        )
    fleet_spec = spec(
        groups,
        seed=scenario["seed"],
        missing_rate=scenario["missing_rate"],
        reboot_rate=scenario["reboot_rate"],
        failing_ids=scenario["failing"],
        stuck_ids=scenario["stuck"],
        reboot_hang_ids=scenario["hang"],
        health_failure_ids=scenario["unhealthy"],
        flaky_ids=scenario["flaky"],
    )
    data = config.baselines.model_dump(mode="json")
    if scenario["block"]:
        data["baselines"][0]["rejected_patches_action"] = "BLOCK"
    baselines = BaselinesFile.model_validate(data)
    win = window(
        scenario["waves"],
        duration_hours=scenario["duration"],
        cutoff_hours=scenario["cutoff"],
        reboot=scenario["reboot"],
        timeouts={"install_minutes": scenario["install_minutes"], "scan_minutes": 20, "reboot_minutes": 15},
    )
    return fleet_spec, baselines, win


def run_scenario(scenario: dict[str, Any], config) -> None:
    fleet_spec, baselines, win = build(scenario, config)
    fleet, clock = world(fleet_spec, baselines)
    before = {i["id"]: dict(fleet.instance(i["id"]).inventory.present) for i in scenario["instances"]}
    start = clock.now()
    stop_at = start + dt.timedelta(hours=win.duration_hours - win.cutoff_hours)
    targets = select(fleet.list_instances(), win.targets)
    target_ids = {t.instance_id for t in targets}
    run_scan(
        fleet,
        clock,
        [t.instance_id for t in targets if t.online],
        snapshot_id="snap",
        run_id="run",
        timeout=dt.timedelta(minutes=20),
    )
    ids = [t.instance_id for t in targets]
    plan = plan_window(win, targets, fleet.patch_states(ids), fleet.compliance(ids))
    settings_ = WaveSettings(
        snapshot_id="snap",
        run_id="run",
        reboot=win.reboot,
        install_timeout=dt.timedelta(minutes=scenario["install_minutes"]),
        scan_timeout=dt.timedelta(minutes=20),
        reboot_timeout=dt.timedelta(minutes=15),
        stop_starting_at=stop_at,
    )
    results = []
    stopped = ""
    for wave in plan.waves:
        if stopped or clock.now() >= stop_at:
            results.append(not_run(wave, stopped or "cutoff", clock.now()))
            stopped = stopped or "cutoff"
            continue
        result = WaveRunner(fleet, clock, wave, settings_).run()
        results.append(result)
        if result.status in ("halted", "cut_off"):
            stopped = result.status

    planned_install = {m.instance_id for m in plan.members if m.to_install}
    # 1. one outcome per planned instance, exactly
    outcome_ids = [r.instance_id for w in results for r in w.results]
    assert sorted(outcome_ids) == sorted(m.instance_id for m in plan.members)
    assert {m.instance_id for m in plan.members} == target_ids
    # 2. nothing outside the plan: installs, cancels and reboots only on instances planned to install
    installed = {iid for c in fleet.sent if c.operation == "Install" for iid in c.instance_ids}
    scanned = {iid for c in fleet.sent if c.operation == "Scan" for iid in c.instance_ids}
    assert installed <= planned_install
    assert scanned <= target_ids
    assert {iid for iid, _ in fleet.reboots} <= planned_install
    # 3. no two operations on one instance at once
    assert not fleet.overlaps
    sends = {}  # instance -> first install send time
    for inv in fleet.invocations():
        if inv.operation == "Install" and inv.sent is not None:
            sends.setdefault(inv.instance_id, inv.sent)
    for wave, result in zip(plan.waves, results, strict=True):
        members = [m.instance_id for m in wave.members]
        # 4. concurrency
        assert max_concurrent_installs(fleet, members) <= wave.max_concurrency
        # 5. nothing started once errors known beyond the threshold
        errors = sorted(r.finished_at for r in result.results if r.outcome in ERRORS and r.finished_at)
        for iid in members:
            if iid in sends:
                known = sum(1 for at in errors if at < sends[iid])
                assert known <= wave.max_errors, (wave.name, iid, known, wave.max_errors)
    # 6. nothing started after the cutoff
    assert all(at <= stop_at for at in sends.values())
    # 7. under BLOCK, no rejected patch (nor what needs one) is ever installed
    if scenario["block"]:
        baseline = baselines.baselines[0]
        verdicts = evaluate(baseline, builtin_catalog(baseline.operating_system).patches, clock.now().date())
        rejected = {v.patch.id for v in verdicts if v.rejected}
        for item in scenario["instances"]:
            if item["platform"] == "AMAZON_LINUX_2023" and item["group"] == "Critical":
                after = fleet.instance(item["id"]).inventory.present
                assert not (set(after) - set(before[item["id"]])) & rejected
    RUNS.append(1)


@settings(
    derandomize=bool(os.environ.get("CI")),
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(scenario=scenarios())
def test_safety_invariants_hold_for_generated_windows(scenario, config) -> None:
    run_scenario(scenario, config)
