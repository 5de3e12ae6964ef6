"""Benchmark: one patch window on a seeded fleet of N instances, through the AWS adapter or
directly on the simulator, measured against references computed in the same run.

It runs the real patch window code (flows.patch_window.run_window in a Prefect flow, with the
real tasks, wave runner, SQLite leases and run ledger) on the simulator's virtual clock. On
``--fleet aws`` every call goes through the AWS adapter and boto3 (request validation, paging,
retries) to the request emulator in front of the simulated fleet, and API calls are the
adapter's own count.

    python -m benchmarks.window                               # 10,000 instances, both paths
    python -m benchmarks.window --instances 1000 --fleet aws --preset failures
    python -m benchmarks.window --instances 50000 --fleet aws --preset all

Each (fleet, preset) runs in a process of its own (so the process tree's memory is its own),
prints a table and writes benchmarks/results/<fleet>-<preset>-<instances>.json.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
WAVE_SHARES = (1, 9, 30, 30, 30)
FLEETS = ("aws", "sim")
STOPPED = ("halted", "cut_off", "aborted")


def _prefect_env() -> None:
    os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="patchwave-bench-prefect-"))
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")


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


def task_runs(flow_run_id: Any) -> int:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
    return len(runs)


def _initial_scan_seconds(fleet: Any) -> float:
    """The scan before planning, done ideally: every online instance at once, as long as the
    longest of them."""
    longest = 0.0
    for inv in fleet.invocations():
        if inv.operation != "Scan" or inv.sent is None or inv.end is None:
            continue
        if inv.sent < fleet.first_install_sent(inv.instance_id):
            longest = max(longest, (inv.end - inv.sent).total_seconds())
    return longest


def references(
    fleet: Any, report: Any, dispatch_delay: float, poll_every: float, latency_s: float
) -> dict[str, dict[str, Any]]:
    """Per wave: the achieved time and every reference's, from the same invocations."""
    from benchmarks.references import (
        ApiCost,
        ideal_makespan,
        lockstep_makespan,
        lower_bound,
        run_command,
    )

    installs: dict[str, float] = {}
    natural: dict[str, tuple[float, bool]] = {}
    verifies: dict[str, float] = {}
    for inv in fleet.invocations():
        if inv.sent is None or inv.end is None:
            continue
        end = inv.cancelled_at or inv.end
        seconds = (end - inv.sent).total_seconds()
        if inv.operation == "Install":
            installs[inv.instance_id] = seconds
            failed = (inv.final_status, inv.final_details) in (
                ("Failed", "Failed"),
                ("TimedOut", "ExecutionTimedOut"),
            )
            natural[inv.instance_id] = ((inv.end - inv.sent).total_seconds(), failed)
        elif inv.instance_id in installs:  # a verification scan follows its install
            verifies[inv.instance_id] = seconds
    members: dict[str, list[str]] = defaultdict(list)
    for item in report.instances:
        if item.instance_id in installs:
            members[item.wave].append(item.instance_id)
    cost = ApiCost(latency_s=latency_s)
    per_wave: dict[str, dict[str, Any]] = {}
    for wave in report.waves:
        ids = sorted(members[wave.name], key=lambda i: fleet.first_install_sent(i))
        work = [installs[i] for i in ids]
        verify = [verifies.get(i, 0.0) for i in ids]
        achieved = (wave.finished_at - wave.started_at).total_seconds() if wave.started_at else 0.0
        native = run_command(
            [natural[i][0] for i in ids],
            [natural[i][1] for i in ids],
            wave.max_concurrency,
            wave.max_errors,
            dispatch_delay=dispatch_delay,
            poll_every=poll_every,
            cost=cost,
        )
        per_wave[wave.name] = {
            "instances": len(ids),
            "status": wave.status,
            "concurrency": wave.max_concurrency,
            "achieved_s": achieved,
            "ideal_s": ideal_makespan(work, verify, wave.max_concurrency),
            "lockstep_s": lockstep_makespan(work, verify, wave.max_concurrency),
            "lower_bound_s": lower_bound(work, wave.max_concurrency),
            "run_command_s": native.seconds if ids else 0.0,
            "run_command_calls": native.calls if ids else {},
            "run_command_halted": native.halted,
        }
    return per_wave


def _stopped(report: Any) -> str | None:
    if report.status not in STOPPED:
        return None
    reasons = [f"wave {w.name} {w.status}: {w.stop_reason}" for w in report.waves if w.status in STOPPED]
    return f"window {report.status}" + (f" ({reasons[0]})" if reasons else "")


class _WaveCalls:
    """API calls made inside the waves (the wave runner), apart from scan, assessment and report."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()

    def __enter__(self) -> _WaveCalls:
        from patchwave.window.runner import WaveRunner

        self._original = WaveRunner.run
        original, calls = self._original, self.calls

        def counted(runner: Any) -> Any:
            before = Counter(runner.fleet.api_calls())
            try:
                return original(runner)
            finally:
                calls.update(Counter(runner.fleet.api_calls()) - before)

        WaveRunner.run = counted  # type: ignore[method-assign,assignment]
        return self

    def __exit__(self, *_: object) -> None:
        from patchwave.window.runner import WaveRunner

        WaveRunner.run = self._original  # type: ignore[method-assign]


class _PollWorth:
    """Every wave runner's polling policy with another worth of a poll (the trade-off sweep)."""

    def __init__(self, worth: float | None) -> None:
        self.worth = worth

    def __enter__(self) -> _PollWorth:
        from patchwave.window import runner
        from patchwave.window.polling import PollPolicy

        self._original = runner.PollPolicy
        if self.worth is not None:
            runner.PollPolicy = functools.partial(  # type: ignore[misc,assignment]
                PollPolicy, wave_seconds_per_poll=self.worth
            )
        return self

    def __exit__(self, *_: object) -> None:
        from patchwave.window import runner

        runner.PollPolicy = self._original  # type: ignore[misc]


def run(
    instances: int,
    seed: int,
    shares: tuple[int, ...],
    name: str,
    *,
    fleet_kind: str = "aws",
    preset: str = "default",
    dispatch_delay: float = 2.0,
    poll_every: float = 60.0,
    behaviour: dict[str, Any] | None = None,
    poll_worth: float | None = None,
) -> dict[str, Any]:
    """One window, measured. ``behaviour`` overrides the preset's fleet behaviour (for tests)."""
    _prefect_env()
    from prefect import flow, get_client

    from benchmarks.adapter import SIMULATOR_VERBS, aws_fleet, ssm_operations
    from benchmarks.fleet import benchmark_spec
    from benchmarks.measure import CpuMeter, TreeMemory, cpu_seconds, tree
    from flows.patch_window import run_window
    from flows.states import final_state
    from patchwave.clock import VirtualClock
    from patchwave.config import load_config
    from patchwave.connect import FleetHandle
    from patchwave.sim.fleet import SimulatedFleet
    from patchwave.state.sqlite_leases import SqliteLeases
    from patchwave.window.polling import PollPolicy

    config = load_config(Path(__file__).resolve().parent.parent / "config")
    spec = benchmark_spec(instances, seed, preset, behaviour)
    win = window_for(instances, shares)
    workdir = Path(tempfile.mkdtemp(prefix="patchwave-bench-"))

    # warm Prefect's temporary server so its start-up is not charged to the window
    with get_client(sync_client=True) as client:
        client.hello()
    me = os.getpid()
    built = time.process_time()
    clock = VirtualClock(spec.start)
    sim = SimulatedFleet(spec, config.baselines, clock)
    build_cpu = time.process_time() - built
    meter = CpuMeter()
    fleet: Any
    if fleet_kind == "aws":
        fleet, _ = aws_fleet(sim, clock, meter)
        description = f"AWS adapter, emulated fleet ({instances})"
    else:
        meter.wrap(sim, SIMULATOR_VERBS)
        fleet, description = sim, f"simulated fleet ({instances})"
    leases = SqliteLeases(workdir / "leases.sqlite")
    handle = FleetHandle(fleet, clock, description, leases=leases)

    reports: list[Any] = []

    @flow(name="patch-window-benchmark")
    def bench() -> Any:
        # as the deployed flow (flows/patch_window.py): the report stays in the process and the
        # flow returns its small final state (a returned report would be walked whole by
        # Prefect for futures, CPU a deployed run does not spend)
        reports.append(run_window(handle, win, report_dir=str(workdir / "reports")))
        return final_state(reports[0])

    state: Any
    with TreeMemory(me) as memory, _WaveCalls() as wave_calls, _PollWorth(poll_worth):
        others = [p for p in tree(me) if p != me]
        others_cpu0 = sum(cpu_seconds(p) for p in others)
        cpu0, wall0, virtual0 = time.process_time(), time.perf_counter(), clock.now()
        state = bench(return_state=True)
        report = reports[0]
        virtual1, wall, cpu = clock.now(), time.perf_counter() - wall0, time.process_time() - cpu0
        others_cpu = sum(cpu_seconds(p) for p in tree(me) if p != me) - others_cpu0

    per_wave = references(sim, report, dispatch_delay, poll_every, spec.behaviour.api_latency_ms / 1000)
    waves_s = sum(w["achieved_s"] for w in per_wave.values())
    ideal_waves = sum(w["ideal_s"] for w in per_wave.values())
    native_s = sum(w["run_command_s"] for w in per_wave.values())
    native_calls: Counter[str] = Counter()
    for wave in per_wave.values():
        native_calls.update(wave["run_command_calls"])
    scan_s = _initial_scan_seconds(sim)
    window_s = (virtual1 - virtual0).total_seconds()
    ssm = ssm_operations()
    calls = dict(fleet.api_calls())
    ssm_calls = sum(v for k, v in calls.items() if k in ssm)
    orchestrator_cpu = cpu - meter.seconds - memory.cpu_seconds
    stopped = _stopped(report)
    window_eff = (scan_s + ideal_waves) / window_s if window_s else 0.0
    wave_eff = ideal_waves / waves_s if waves_s else 0.0
    return {
        "name": name,
        "instances": instances,
        "preset": preset,
        "fleet": fleet_kind,
        "seed": seed,
        "stopped": stopped,
        # a window that was cut off or halted has no efficiency to present
        "window_efficiency": None if stopped else window_eff,
        "wave_efficiency": None if stopped else wave_eff,
        "wave_seconds": waves_s,
        "ssm_native_wave_seconds": native_s,
        "api_calls_per_instance": ssm_calls / instances,
        "orchestrator_cpu_ms_per_instance": 1000 * orchestrator_cpu / instances,
        "tree_peak_rss_mb": memory.peak_mb,
        "task_runs": task_runs(state.state_details.flow_run_id),
        "partial_efficiencies": {"window": window_eff, "waves": wave_eff} if stopped else None,
        "window_seconds": window_s,
        "ideal_window_seconds": scan_s + ideal_waves,
        "ideal_scan_seconds": scan_s,
        "ideal_wave_seconds": ideal_waves,
        "lockstep_wave_seconds": sum(w["lockstep_s"] for w in per_wave.values()),
        "lower_bound_wave_seconds": sum(w["lower_bound_s"] for w in per_wave.values()),
        "wave_seconds_over_ssm_native": waves_s / native_s if native_s else None,
        "waves": per_wave,
        "api_calls": calls,
        "ssm_calls": ssm_calls,
        "ssm_calls_in_waves_per_instance": sum(v for k, v in wave_calls.calls.items() if k in ssm)
        / instances,
        "ssm_native_calls": dict(native_calls),
        "ssm_native_calls_per_instance": sum(native_calls.values()) / instances,
        "poll_wave_seconds_per_poll": poll_worth or PollPolicy().wave_seconds_per_poll,
        "ssm_native_assumptions": {"dispatch_delay_s": dispatch_delay, "poll_every_s": poll_every},
        "throttled_waits": dict(sim.throttled),
        "cpu_seconds": {
            "flow_process": cpu,
            "orchestrator": orchestrator_cpu,
            "simulator": meter.seconds,
            "memory_sampler": memory.cpu_seconds,
            "prefect_server_and_other_children": others_cpu,
            "fleet_build (not in the window)": build_cpu,
        },
        "wall_seconds": wall,
        "tree_sampled_peak_rss_mb": memory.sampled_peak_kb / 1024,
        "tree_processes": memory.processes,
        "tree_peak_rss_by_process_mb": memory.by_process_mb(),
        "leases": "sqlite",
        "outcomes": {k: v for k, v in report.totals.items() if v},
        "status": report.status,
        "every_instance_one_outcome": len({i.instance_id for i in report.instances})
        == len(report.instances)
        == instances,
    }


def _hm(seconds: float) -> str:
    return f"{int(seconds // 3600)}h{int(seconds % 3600 // 60):02d}m{int(seconds % 60):02d}s"


def _f(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def print_table(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"patch window benchmark: {result['instances']:,} instances, {result['fleet']}, "
        f"preset {result['preset']} (seed {result['seed']})"
    )
    for column in ("wave", "instances", "slots", "achieved", "ideal", "Run Command", "lock-step", "eff."):
        table.add_column(column, justify="right")
    for name, wave in result["waves"].items():
        eff = wave["ideal_s"] / wave["achieved_s"] if wave["achieved_s"] else 0
        table.add_row(
            f"{name} ({wave['status']})",
            str(wave["instances"]),
            str(wave["concurrency"]),
            _hm(wave["achieved_s"]),
            _hm(wave["ideal_s"]),
            _hm(wave["run_command_s"]),
            _hm(wave["lockstep_s"]),
            f"{eff:.3f}",
        )
    console = Console(width=150)
    console.print(table)
    cpu = result["cpu_seconds"]
    console.print(
        f"stopped: {result['stopped']}\n"
        f"window {_hm(result['window_seconds'])} (ideal {_hm(result['ideal_window_seconds'])}): "
        f"efficiency {_f(result['window_efficiency'])}; waves {_hm(result['wave_seconds'])}: efficiency "
        f"{_f(result['wave_efficiency'])}; Run Command's own rate control "
        f"{_hm(result['ssm_native_wave_seconds'])} "
        f"(waves / it {_f(result['wave_seconds_over_ssm_native'])})\n"
        f"SSM calls per instance {result['api_calls_per_instance']:.3f} ({result['fleet']} count; in waves "
        f"{result['ssm_calls_in_waves_per_instance']:.3f}; Run Command's own "
        f"{result['ssm_native_calls_per_instance']:.3f})\n"
        f"calls: {result['api_calls']}\n"
        f"CPU: orchestrator {cpu['orchestrator']:.1f} s "
        f"({result['orchestrator_cpu_ms_per_instance']:.3f} ms/instance), simulator "
        f"{cpu['simulator']:.1f} s, Prefect server {cpu['prefect_server_and_other_children']:.1f} s; "
        f"wall {result['wall_seconds']:.1f} s\n"
        f"tree peak RSS {result['tree_peak_rss_mb']:.0f} MB over {result['tree_processes']} processes; "
        f"Prefect task runs {result['task_runs']}\n"
        f"outcomes: {result['outcomes']}"
    )


def _one(args: argparse.Namespace, shares: tuple[int, ...]) -> int:
    fleet, preset = args.fleet, args.preset
    name = args.name or f"{fleet}-{preset}-{args.instances}"
    _prefect_env()
    with contextlib.ExitStack() as stack:
        if not os.environ.get("PREFECT_API_URL") and args.prefect_server == "beside":
            from benchmarks.server import prefect_server

            stack.enter_context(prefect_server(os.environ["PREFECT_HOME"]))
        result = _measured(args, shares, name)
    result["prefect_server"] = args.prefect_server
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2, default=str))
    print_table(result)
    return 0


def _measured(args: argparse.Namespace, shares: tuple[int, ...], name: str) -> dict[str, Any]:
    fleet, preset = args.fleet, args.preset
    return run(
        args.instances,
        args.seed,
        shares,
        name,
        fleet_kind=fleet,
        preset=preset,
        dispatch_delay=args.native_dispatch_seconds,
        poll_every=args.native_poll_seconds,
        poll_worth=args.poll_worth,
    )


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:
        """Bad input: one line naming the option and value, exit 2, nothing run."""
        self.exit(2, f"benchmarks.window: {message}\n")


def main(argv: list[str] | None = None) -> int:
    from benchmarks.fleet import PRESETS

    parser = _Parser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--instances", type=int, default=10_000)
    parser.add_argument("--quick", action="store_true", help="1,000 instances")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--preset", default="default", choices=[*PRESETS, "all"])
    parser.add_argument("--fleet", default="both", choices=[*FLEETS, "both"])
    parser.add_argument("--waves", default=",".join(map(str, WAVE_SHARES)), help="wave shares in percent")
    parser.add_argument("--native-dispatch-seconds", type=float, default=2.0)
    parser.add_argument("--native-poll-seconds", type=float, default=60.0)
    parser.add_argument(
        "--poll-worth", type=float, default=None, help="polling: the wave seconds one poll is worth"
    )
    parser.add_argument(
        "--prefect-server",
        default="beside",
        choices=["beside", "temporary"],
        help="beside: a Prefect server child process, as deployed (default); temporary: whatever "
        "Prefect is configured with (PREFECT_API_URL, else the temporary server it starts from "
        "inside the flow process)",
    )
    parser.add_argument("--name", default=None, help="results/<name>.json (one fleet and preset)")
    args = parser.parse_args(argv)
    if args.quick:
        args.instances = 1000
    if not 10 <= args.instances <= 1_000_000:
        parser.error(f"--instances {args.instances}: must be between 10 and 1000000")
    try:
        shares = tuple(int(x) for x in args.waves.split(","))
    except ValueError:
        parser.error(f"--waves {args.waves!r}: expected comma-separated whole percentages")
    if not shares or any(s <= 0 for s in shares) or sum(shares) != 100:
        parser.error(f"--waves {args.waves!r}: shares must be positive and add up to 100")
    if args.native_dispatch_seconds < 0 or args.native_poll_seconds <= 0:
        parser.error("--native-dispatch-seconds must be >= 0 and --native-poll-seconds > 0")
    if args.poll_worth is not None and args.poll_worth <= 0:
        parser.error(f"--poll-worth {args.poll_worth}: must be positive")
    fleets = FLEETS if args.fleet == "both" else (args.fleet,)
    presets = tuple(PRESETS) if args.preset == "all" else (args.preset,)
    if len(fleets) * len(presets) == 1:
        return _one(args, shares)
    if args.name:
        parser.error("--name names one result: give one --fleet and one --preset with it")
    # one process per run, so each process tree's memory is its own
    worst = 0
    for fleet in fleets:
        for preset in presets:
            command = [sys.executable, "-m", "benchmarks.window", "--fleet", fleet, "--preset", preset]
            command += ["--instances", str(args.instances), "--seed", str(args.seed), "--waves", args.waves]
            command += ["--native-dispatch-seconds", str(args.native_dispatch_seconds)]
            command += ["--native-poll-seconds", str(args.native_poll_seconds)]
            command += ["--prefect-server", args.prefect_server]
            if args.poll_worth is not None:
                command += ["--poll-worth", str(args.poll_worth)]
            worst = max(worst, subprocess.run(command, check=False).returncode)
    return worst


if __name__ == "__main__":
    sys.exit(main())
