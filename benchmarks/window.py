"""Benchmark: one patch window on a seeded simulated fleet of N instances, measured against the
lower bound. Runs the real patch window code (flows.patch_window.run_window inside a Prefect
flow, with the real tasks and wave runner) on the simulator's virtual clock.

    python -m benchmarks.window                 # 10,000 instances
    python -m benchmarks.window --quick         # 1,000 instances (CI smoke)
    python -m benchmarks.window --instances 50000 --name scale-50k

Prints one table and writes benchmarks/results/<name>.json.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
WAVE_SHARES = (1, 9, 30, 30, 30)


def _prefect_env() -> None:
    os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="patchwave-bench-prefect-"))
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")


def fleet_spec(instances: int, seed: int) -> Any:
    from benchmarks.fleet import benchmark_spec

    return benchmark_spec(instances, seed)


def window_for(instances: int, shares: tuple[int, ...]) -> Any:
    from patchwave.config.windows import Window

    waves: list[dict[str, Any]] = []
    for index, share in enumerate(shares):
        wave: dict[str, Any] = {"name": f"wave-{index + 1}", "max_concurrency": "10%", "max_errors": "10%"}
        if index < len(shares) - 1:
            wave["select"] = {"count": max(1, math.floor(instances * share / 100))}
        waves.append(wave)
    return Window.model_validate(
        {
            "name": "benchmark",
            "schedule": {"cron": "0 3 * * SUN"},
            "duration_hours": 24,
            "cutoff_hours": 0,
            "targets": {"tags": {"Workload": ["Bench"]}},
            "timeouts": {"install_minutes": 240, "scan_minutes": 30, "reboot_minutes": 30},
            "waves": waves,
        }
    )


def minimum_calls(report: Any) -> dict[str, int]:
    """Fewest SSM calls a window of this shape could make (chunks of 50, one look per command)."""
    targets = len(report.instances)
    online = targets - report.totals.get("skipped_offline", 0)
    per50 = lambda n: math.ceil(n / 50)  # noqa: E731
    installed = sum(1 for i in report.instances if i.command_id)
    return {
        "DescribeInstanceInformation": per50(targets),
        "SendCommand": per50(online) + 2 * per50(installed),  # scan, install, verification scan
        "ListCommands": 1 + len(report.waves),
        "ListCommandInvocations": per50(online) + 2 * per50(installed),
        "DescribeInstancePatchStates": 2 * per50(targets) + per50(installed),
        "ListResourceComplianceSummaries": 2 * per50(targets),
    }


def task_runs(flow_run_id: Any) -> int:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
    return len(runs)


def references(fleet: Any, report: Any) -> dict[str, dict[str, float]]:
    from benchmarks.references import ideal_makespan, lockstep_makespan, lower_bound

    installs: dict[str, float] = {}
    verifies: dict[str, float] = {}
    for inv in fleet.invocations():
        if inv.sent is None or inv.end is None:
            continue
        end = inv.cancelled_at or inv.end
        seconds = (end - inv.sent).total_seconds()
        if inv.operation == "Install":
            installs[inv.instance_id] = seconds
        elif inv.instance_id in installs:  # a verification scan follows its install
            verifies[inv.instance_id] = seconds
    per_wave: dict[str, dict[str, float]] = {}
    members: dict[str, list[str]] = defaultdict(list)
    for item in report.instances:
        if item.instance_id in installs:
            members[item.wave].append(item.instance_id)
    for wave in report.waves:
        ids = sorted(members[wave.name], key=lambda i: fleet.first_install_sent(i))
        work = [installs[i] for i in ids]
        verify = [verifies.get(i, 0.0) for i in ids]
        achieved = (wave.finished_at - wave.started_at).total_seconds() if wave.started_at else 0.0
        per_wave[wave.name] = {
            "instances": len(ids),
            "concurrency": wave.max_concurrency,
            "achieved_s": achieved,
            "ideal_s": ideal_makespan(work, verify, wave.max_concurrency),
            "lockstep_s": lockstep_makespan(work, verify, wave.max_concurrency),
            "lower_bound_s": lower_bound(work, wave.max_concurrency),
        }
    return per_wave


def run(instances: int, seed: int, shares: tuple[int, ...], name: str) -> dict[str, Any]:
    _prefect_env()
    from prefect import flow

    from flows.patch_window import run_window
    from patchwave.clock import VirtualClock
    from patchwave.config import load_config
    from patchwave.connect import FleetHandle
    from patchwave.sim.fleet import SimulatedFleet

    config = load_config(Path(__file__).resolve().parent.parent / "config")
    spec = fleet_spec(instances, seed)
    win = window_for(instances, shares)
    report_dir = tempfile.mkdtemp(prefix="patchwave-bench-reports-")

    # warm Prefect's temporary server so its start-up is not charged to the window
    from prefect import get_client

    with get_client(sync_client=True) as client:
        client.hello()
    cpu0 = time.process_time()
    wall0 = time.perf_counter()
    clock = VirtualClock(spec.start)
    fleet = SimulatedFleet(spec, config.baselines, clock)
    handle = FleetHandle(fleet, clock, f"benchmark fleet ({instances})")

    @flow(name="patch-window-benchmark")
    def bench() -> Any:
        return run_window(handle, win, report_dir=report_dir)

    state = bench(return_state=True)
    report = state.result()
    wall = time.perf_counter() - wall0
    cpu = time.process_time() - cpu0
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    per_wave = references(fleet, report)
    achieved = sum(w["achieved_s"] for w in per_wave.values())
    ideal = sum(w["ideal_s"] for w in per_wave.values())
    lockstep = sum(w["lockstep_s"] for w in per_wave.values())
    bound = sum(w["lower_bound_s"] for w in per_wave.values())
    window_s = (report.finished_at - report.started_at).total_seconds()
    calls = report.api_calls
    ssm_calls = sum(
        v for k, v in calls.items() if k not in ("HealthCheck", "DescribeInstances", "RebootInstances")
    )
    minimum = minimum_calls(report)
    result = {
        "name": name,
        "instances": instances,
        "seed": seed,
        "waves": per_wave,
        "window_makespan_s": window_s,
        "waves_makespan_s": achieved,
        "ideal_s": ideal,
        "lockstep_s": lockstep,
        "lower_bound_s": bound,
        "efficiency": ideal / achieved if achieved else 0.0,
        "lockstep_efficiency": ideal / lockstep if lockstep else 0.0,
        "api_calls": calls,
        "api_calls_per_instance": ssm_calls / instances,
        "api_calls_minimum": minimum,
        "api_calls_minimum_per_instance": sum(minimum.values()) / instances,
        "throttled": dict(fleet.throttled),
        "cpu_seconds": cpu,
        "wall_seconds": wall,
        "peak_rss_mb": peak_rss_mb,
        "task_runs": task_runs(state.state_details.flow_run_id),
        "outcomes": {k: v for k, v in report.totals.items() if v},
        "status": report.status,
        "every_instance_one_outcome": len({i.instance_id for i in report.instances})
        == len(report.instances)
        == instances,
    }
    return result


def print_table(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"patch window benchmark: {result['instances']:,} instances (seed {result['seed']})")
    for column in (
        "wave",
        "instances",
        "concurrency",
        "achieved",
        "ideal",
        "lock-step",
        "lower bound",
        "efficiency",
    ):
        table.add_column(column, justify="right")
    for name, wave in result["waves"].items():
        eff = wave["ideal_s"] / wave["achieved_s"] if wave["achieved_s"] else 0
        table.add_row(
            name,
            str(wave["instances"]),
            str(wave["concurrency"]),
            _hm(wave["achieved_s"]),
            _hm(wave["ideal_s"]),
            _hm(wave["lockstep_s"]),
            _hm(wave["lower_bound_s"]),
            f"{eff:.3f}",
        )
    table.add_section()
    table.add_row(
        "all waves",
        str(result["instances"]),
        "",
        _hm(result["waves_makespan_s"]),
        _hm(result["ideal_s"]),
        _hm(result["lockstep_s"]),
        _hm(result["lower_bound_s"]),
        f"{result['efficiency']:.3f}",
    )
    console = Console()
    console.print(table)
    console.print(
        f"window (scan to report) {_hm(result['window_makespan_s'])} simulated; lock-step efficiency "
        f"{result['lockstep_efficiency']:.3f}\n"
        f"SSM API calls per instance {result['api_calls_per_instance']:.3f} (minimum possible "
        f"{result['api_calls_minimum_per_instance']:.3f}); "
        f"throttled waits {sum(result['throttled'].values())}\n"
        f"calls: {result['api_calls']}\n"
        f"orchestrator CPU {result['cpu_seconds']:.1f} s, wall {result['wall_seconds']:.1f} s, peak RSS "
        f"{result['peak_rss_mb']:.0f} MB, Prefect task runs {result['task_runs']}\n"
        f"outcomes: {result['outcomes']}"
    )


def _hm(seconds: float) -> str:
    return f"{int(seconds // 3600)}h{int(seconds % 3600 // 60):02d}m{int(seconds % 60):02d}s"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--instances", type=int, default=10_000)
    parser.add_argument("--waves", default=",".join(map(str, WAVE_SHARES)), help="wave shares in percent")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--quick", action="store_true", help="1,000 instances (CI smoke)")
    parser.add_argument("--name", default=None, help="results/<name>.json")
    args = parser.parse_args(argv)
    instances = 1000 if args.quick else args.instances
    if not 10 <= instances <= 1_000_000:
        parser.error("--instances must be between 10 and 1000000")
    try:
        shares = tuple(int(x) for x in args.waves.split(","))
    except ValueError:
        parser.error(f"--waves {args.waves!r}: expected comma-separated whole percentages")
    if not shares or any(s <= 0 for s in shares) or sum(shares) != 100:
        parser.error(f"--waves {args.waves!r}: shares must be positive and add up to 100")
    name = args.name or f"window-{instances}"
    result = run(instances, args.seed, shares, name)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2, default=str))
    print_table(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
