"""Benchmark: the report's patch lists at scale (worst case: read before any install, so every
missing patch of every instance is kept), on the simulator's virtual clock.

    python -m benchmarks.patch_lists --instances 10000

Prints the calls made, the instances and patch lines kept, the peak memory the read allocates
(tracemalloc) and the size of those lists in the JSON report.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time
import tracemalloc

from benchmarks.fleet import benchmark_spec
from patchwave.clock import VirtualClock
from patchwave.config import load_config
from patchwave.reports.patch_lists import read_patch_lists
from patchwave.sim.fleet import SimulatedFleet
from patchwave.window.outcomes import Outcome
from patchwave.window.runner import InstanceResult, WaveResult


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--instances", type=int, default=10000)
    args = parser.parse_args()
    spec = benchmark_spec(
        args.instances, 2026, overrides={"api_latency_ms": 0, "throttling": {"enabled": False}}
    )
    clock = VirtualClock(spec.start)
    fleet = SimulatedFleet(spec, load_config("config").baselines, clock)
    ids = [i.instance_id for i in fleet.list_instances()]
    now = clock.now()
    results = [
        WaveResult(
            "all",
            "completed",
            [InstanceResult(i, "all", Outcome.PATCHED, command_id="c") for i in ids],
            0,
            0,
            1,
            1,
            now,
            now,
        )
    ]
    tracemalloc.start()
    started = time.perf_counter()
    lists = read_patch_lists(fleet, results, now - dt.timedelta(seconds=1))
    seconds = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    lines = sum(len(p.before) + len(p.after) for p in lists.values())
    size = len(json.dumps({k: v.model_dump() for k, v in lists.items()}))
    calls = fleet.api_calls().get("DescribeInstancePatches", 0)
    print(
        f"instances {len(ids)}; DescribeInstancePatches {calls}; "
        f"kept {len(lists)} instance(s), {lines} patch lines; peak {peak / 2**20:.1f} MiB; "
        f"JSON {size / 2**20:.1f} MiB; {seconds:.1f} s"
    )


if __name__ == "__main__":
    main()
