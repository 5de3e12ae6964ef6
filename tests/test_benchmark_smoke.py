"""The benchmark runs (on 1,000 instances) and its figures are computed; no time is asserted."""

from __future__ import annotations

import math

import pytest

pytestmark = pytest.mark.usefixtures("prefect_harness")


def test_quick_benchmark_invariants() -> None:
    from benchmarks.window import WAVE_SHARES, run

    result = run(1000, 2026, WAVE_SHARES, "ci-smoke")
    assert result["every_instance_one_outcome"]
    assert sum(result["outcomes"].values()) == 1000
    assert math.isfinite(result["efficiency"]) and result["efficiency"] > 0
    assert math.isfinite(result["lockstep_efficiency"]) and result["lockstep_efficiency"] > 0
    assert result["api_calls_per_instance"] >= result["api_calls_minimum_per_instance"]
    assert result["task_runs"] == 7 + len(WAVE_SHARES)  # per wave, never per instance
    assert result["status"] in ("succeeded", "succeeded_with_errors")
