"""The benchmark harness end to end at small sizes: through the AWS adapter and on the simulator,
its figures computed, a halted window marked and its efficiency withheld. No time is asserted."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from benchmarks import window as bench
from benchmarks.adapter import ssm_operations

pytestmark = pytest.mark.usefixtures("prefect_harness")

KEYS = {
    "instances",
    "preset",
    "window_efficiency",
    "wave_efficiency",
    "ssm_native_wave_seconds",
    "wave_seconds",
    "api_calls_per_instance",
    "orchestrator_cpu_ms_per_instance",
    "tree_peak_rss_mb",
    "task_runs",
    "stopped",
}


@pytest.mark.parametrize("fleet", ["aws", "sim"])
def test_a_small_window_is_measured_on_both_paths(fleet: str) -> None:
    result = bench.run(300, 2026, bench.WAVE_SHARES, f"test-{fleet}", fleet_kind=fleet)
    assert set(result) >= KEYS
    assert result["every_instance_one_outcome"]
    assert sum(result["outcomes"].values()) == 300
    assert result["stopped"] is None
    for key in ("window_efficiency", "wave_efficiency"):
        assert math.isfinite(result[key]) and 0 < result[key] <= 1.0
    # the references are computed from the same invocations
    assert result["ideal_wave_seconds"] <= result["lockstep_wave_seconds"]
    assert result["ssm_native_wave_seconds"] > 0
    assert result["ideal_window_seconds"] <= result["window_seconds"]
    # SSM calls are the fleet's own count: the adapter's boto3 counter on the AWS path
    ssm = ssm_operations()
    assert result["ssm_calls"] == sum(v for k, v in result["api_calls"].items() if k in ssm)
    assert result["api_calls_per_instance"] == result["ssm_calls"] / 300
    assert result["api_calls"]["SendCommand"] >= 3  # scan, installs and verification, per 50 ids
    # CPU: the orchestrator's share is what the flow process spent outside the simulator
    cpu = result["cpu_seconds"]
    assert cpu["simulator"] > 0 and cpu["orchestrator"] > 0
    assert cpu["orchestrator"] + cpu["simulator"] <= cpu["flow_process"] + 1e-6
    # the Prefect server runs beside the flow: the tree is more than one process
    assert result["tree_processes"] >= 2
    assert result["tree_peak_rss_mb"] >= result["tree_sampled_peak_rss_mb"] > 50
    # the window's own tasks and, since the drill-down, read-patch-lists
    assert result["task_runs"] == 8 + len(bench.WAVE_SHARES)  # per wave, never per instance


def test_a_halted_window_is_marked_and_its_efficiency_withheld() -> None:
    result = bench.run(
        200, 7, bench.WAVE_SHARES, "test-halted", fleet_kind="sim", behaviour={"failure_rate": 0.5}
    )
    assert result["stopped"] is not None and "halted" in result["stopped"]
    assert result["window_efficiency"] is None and result["wave_efficiency"] is None
    assert result["partial_efficiencies"]["waves"] > 0
    assert result["outcomes"].get("not_attempted", 0) > 0


def test_the_command_line_writes_one_result(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bench, "RESULTS", tmp_path)
    argv = ["--instances", "100", "--fleet", "sim", "--preset", "stuck", "--name", "cli"]
    code = bench.main([*argv, "--prefect-server", "temporary"])  # the session's test server
    assert code == 0
    result = json.loads((tmp_path / "cli.json").read_text())
    assert set(result) >= KEYS
    assert result["preset"] == "stuck" and result["instances"] == 100


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["--instances", "5"], "--instances 5"),
        (["--waves", "50,40"], "--waves '50,40'"),
        (["--preset", "lucky"], "lucky"),
        (["--fleet", "sim", "--preset", "all", "--name", "x"], "--name"),
        (["--native-poll-seconds", "0"], "--native-poll-seconds"),
    ],
)
def test_bad_options_are_one_line_and_exit_2(
    argv: list[str], named: str, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setattr(bench, "RESULTS", tmp_path)
    with pytest.raises(SystemExit) as exit_:
        bench.main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and named in err
    assert not list(tmp_path.iterdir())
