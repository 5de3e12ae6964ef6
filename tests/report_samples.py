"""A halted window's report, built from the simulated fleet and the real runner (no Prefect)."""

from __future__ import annotations

import datetime as dt

from patchwave.compliance.summary import summarise
from patchwave.reports.report import Report, build_report
from patchwave.window.planning import plan_window
from patchwave.window.runner import WaveRunner, WaveSettings, not_run
from tests.helpers import START, group, ids, spec, window, world

WEB = ids("d1", 8)
WAVES = [
    {"name": "canary", "select": {"count": 1}, "max_concurrency": "1", "max_errors": "0"},
    {"name": "web", "select": {"count": 8}, "max_concurrency": "1", "max_errors": "10%"},
    {"name": "rest", "max_concurrency": "50%", "max_errors": "25%"},
]


def halted_report(config, run_id: str = "run-1", reason: str = "") -> Report:
    fleet, clock = world(
        spec([group("web", WEB + ids("d2", 4))], failing_ids=[WEB[2], WEB[4]]), config.baselines
    )
    targets = fleet.list_instances()
    member_ids = [t.instance_id for t in targets]
    compliance = fleet.compliance(member_ids)
    plan = plan_window(window(WAVES), targets, fleet.patch_states(member_ids), compliance)
    settings = WaveSettings(snapshot_id="snap", run_id=run_id)
    results = []
    stop = ""
    for wave in plan.waves:
        if stop:
            results.append(not_run(wave, stop, clock.now()))
            continue
        result = WaveRunner(fleet, clock, wave, settings).run()
        results.append(result)
        if result.status == "halted":
            stop = f"wave {wave.name!r} halted"
    before = summarise(targets, compliance)
    return build_report(
        window="weekly-test",
        run_id=run_id,
        fleet="test",
        operation="Install",
        reboot="if_needed",
        snapshot_id="snap",
        started_at=START,
        finished_at=clock.now(),
        plan=plan,
        results=results,
        before=before,
        after=before,
        api_calls=fleet.api_calls(),
        reason=reason,
        wall_started_at=dt.datetime.now(dt.UTC),
    )
