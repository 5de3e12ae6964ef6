"""No alarm during the bake: the promotion gate fails when a ring window's alarm (window- or
wave-level) is in ALARM at any look during the bake; looks at most once a minute on the fleet
clock. On the simulator's alarm knob (``behaviour.alarms``), virtual clock."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from patchwave.cli import app
from patchwave.config import load_config
from patchwave.window.rollout_bake import bake, ring_alarms
from tests.helpers import group, ids, spec, world
from tests.test_rollouts import ROOT, config_copy

runner = CliRunner()
RINGS = """
rollouts:
  - name: baked
    pause_hours: 0
    rings:
      - {window: rings-canary, bake_minutes: 1440, min_success_rate: 0.0}
      - {window: rings-web, bake_minutes: 0, min_success_rate: 0.0}
"""


def test_the_bake_looks_once_a_minute_and_stops_at_the_first_alarm(config) -> None:
    fleet, clock = world(
        spec(
            [group("web", ids("b1", 2))],
            alarms={"p99-latency": {"fire_at_minutes": 100.5, "clear_at_minutes": 101.4}, "quiet": {}},
        ),
        config.baselines,
    )
    start = clock.now()
    assert bake(fleet, clock, ["quiet"], 30) == ""
    assert clock.now() - start == dt.timedelta(minutes=30)
    assert fleet.api_calls()["DescribeAlarms"] == 31  # at 0, 1, ..., 30: never more than once a minute
    reason = bake(fleet, clock, ["quiet", "p99-latency"], 240)  # fires 70.5 minutes in, for 0.9 minute
    assert reason == "alarm 'p99-latency' is in ALARM during the bake (2026-11-29 03:41 UTC)"
    assert clock.now() - start == dt.timedelta(minutes=101)  # the first look after it fired ends the bake
    assert fleet.api_calls()["DescribeAlarms"] == 31 + 72
    before = fleet.api_calls()["DescribeAlarms"]
    assert bake(fleet, clock, [], 60) == ""  # no alarms: one sleep, no call
    assert fleet.api_calls()["DescribeAlarms"] == before


@pytest.mark.usefixtures("prefect_harness")
def test_an_alarm_firing_inside_the_bake_fails_the_gate_and_names_the_alarm(tmp_path: Path) -> None:
    """Ring 1 (rings-canary, its wave watching web-5xx) ends within its first hour; web-5xx
    fires 10 h in, for 3 minutes only, inside the day's bake: the gate fails, ring 2 never runs."""
    folder = config_copy(tmp_path, RINGS)
    windows = yaml.safe_load((folder / "windows.yaml").read_text())
    (canary,) = [w for w in windows["windows"] if w["name"] == "rings-canary"]
    canary["waves"][0]["alarms"] = ["web-5xx"]
    (folder / "windows.yaml").write_text(yaml.safe_dump(windows))
    fleet_file = tmp_path / "fleet.yaml"
    fleet = yaml.safe_load((ROOT / "config/fleets/demo.yaml").read_text())
    fleet["behaviour"]["alarms"] = {"web-5xx": {"fire_at_minutes": 600, "clear_at_minutes": 603}}
    fleet_file.write_text(yaml.safe_dump(fleet))
    assert ring_alarms(load_config(folder).window("rings-canary")) == ("web-5xx",)

    common = ["--config", str(folder), "--report-dir", str(tmp_path / "r")]
    started = runner.invoke(
        app, ["rollout", "start", "baked", *common, "--fleet", f"sim:{fleet_file}", "--speed", "0"]
    )
    assert started.exit_code == 1, started.output
    assert "web-5xx" in started.output
    status = json.loads(runner.invoke(app, ["rollout", "status", "baked", *common]).output)
    assert status["status"] == "failed_gate"
    assert "alarm 'web-5xx' is in ALARM during the bake (2026-11-29 12:00 UTC)" in status["reason"]
    assert [r["status"] for r in status["rings"]] == ["failed_gate", "pending"]
    assert status["rings"][0]["finished_at"].startswith("2026-11-29T12:00")  # seen within the minute
