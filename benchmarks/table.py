"""The README's table from result files: one row per run, stopped windows marked.

    python -m benchmarks.table                         # the kept figures: results/reference-*.json
    python -m benchmarks.table aws-default-10000 sim-default-10000   # this machine's runs
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
HEADER = (
    "| instances | path | preset | window eff. | wave eff. | waves / Run Command | SSM calls / instance "
    "(in waves; Run Command's) | orchestrator CPU ms / instance | simulator CPU s | tree peak RSS MB "
    "| task runs | wall s |"
)


def row(result: dict[str, Any]) -> str:
    """A stopped (halted, cut-off) window shows why, never an efficiency."""
    stopped = result["stopped"]
    native = result["ssm_native_wave_seconds"]
    if stopped:
        window, waves, ratio = f"stopped: {stopped}", "-", "-"
    else:
        window, waves = f"{result['window_efficiency']:.3f}", f"{result['wave_efficiency']:.3f}"
        ratio = f"{result['wave_seconds'] / native:.3f}" if native else "-"
    return (
        f"| {result['instances']:,} | {result['fleet']} | {result['preset']} "
        f"| {window} | {waves} | {ratio} "
        f"| {result['api_calls_per_instance']:.3f} ({result['ssm_calls_in_waves_per_instance']:.3f}; "
        f"{result['ssm_native_calls_per_instance']:.3f}) "
        f"| {result['orchestrator_cpu_ms_per_instance']:.2f} | {result['cpu_seconds']['simulator']:.1f} "
        f"| {result['tree_peak_rss_mb']:.0f} | {result['task_runs']} | {result['wall_seconds']:.0f} |"
    )


def main(argv: list[str] | None = None) -> int:
    names = argv if argv is not None else sys.argv[1:]
    paths = [RESULTS / f"{n}.json" for n in names] if names else sorted(RESULTS.glob("reference-*.json"))
    results = [json.loads(p.read_text()) for p in paths]
    results.sort(key=lambda r: (r["instances"], r["fleet"], r["preset"]))
    print(HEADER)
    print("| ---: | --- | --- |" + " ---: |" * 9)
    for result in results:
        print(row(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
