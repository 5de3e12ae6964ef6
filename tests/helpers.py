"""Builders for tests: small simulated fleets, windows and plans."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import yaml

from patchwave.clock import VirtualClock
from patchwave.config.baselines import BaselinesFile
from patchwave.config.windows import Window
from patchwave.sim.fleet import SimulatedFleet
from patchwave.sim.spec import FleetSpec
from patchwave.window.planning import Plan, plan_window
from patchwave.window.targeting import select

START = dt.datetime(2026, 11, 29, 2, 0, tzinfo=dt.UTC)


def ids(prefix: str, count: int) -> list[str]:
    """Readable fixed instance ids: i-0<prefix padded><index>."""
    return [f"i-0{prefix}{index:0{16 - len(prefix)}x}" for index in range(count)]


def spec(groups: list[dict[str, Any]], seed: int = 1, **behaviour: Any) -> FleetSpec:
    base: dict[str, Any] = {
        "install_minutes": {"median": 8, "p99": 30},
        "scan_minutes": {"median": 1, "p99": 3},
        "reboot_minutes": {"median": 2, "p99": 5},
        "missing_rate": 1.0,
        "api_latency_ms": 0,
    }
    base.update(behaviour)
    return FleetSpec.model_validate(
        {
            "seed": seed,
            "start": START.isoformat(),
            "clock": {"mode": "virtual"},
            "groups": groups,
            "behaviour": base,
        }
    )


def group(
    name: str, instance_ids: list[str], platform: str = "AMAZON_LINUX_2023", **extra: Any
) -> dict[str, Any]:
    tags = {"Workload": "Test", **extra.pop("tags", {})}
    return {"name": name, "ids": instance_ids, "platform": platform, "tags": tags, **extra}


def world(fleet_spec: FleetSpec, baselines: BaselinesFile) -> tuple[SimulatedFleet, VirtualClock]:
    clock = VirtualClock(fleet_spec.start)
    return SimulatedFleet(fleet_spec, baselines, clock), clock


def window(waves: list[dict[str, Any]], **extra: Any) -> Window:
    data: dict[str, Any] = {
        "name": "test-window",
        "schedule": {"cron": "0 3 * * SUN"},
        "targets": {"tags": {"Workload": ["Test"]}},
        "waves": waves,
    }
    data.update(extra)
    return Window.model_validate(data)


def plan_for(fleet: SimulatedFleet, win: Window) -> Plan:
    targets = select(fleet.list_instances(), win.targets)
    members = [t.instance_id for t in targets]
    return plan_window(win, targets, fleet.patch_states(members), fleet.compliance(members))


def write_config(folder: Path, baselines: BaselinesFile, *windows: Window) -> Path:
    """A config folder (baselines.yaml, windows.yaml) for the real CLI."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "baselines.yaml").write_text(yaml.safe_dump(baselines.model_dump(mode="json")))
    (folder / "windows.yaml").write_text(
        yaml.safe_dump({"windows": [w.model_dump(mode="json") for w in windows]})
    )
    return folder


def config_with_window(tmp_path: Path, extra: dict[str, Any]) -> Path:
    """A copy of the project's config/ with one more window (for tests that run the real CLI)."""
    import shutil

    root = Path(__file__).resolve().parent.parent
    folder = tmp_path / "config"
    shutil.copytree(root / "config", folder)
    windows = yaml.safe_load((folder / "windows.yaml").read_text())
    windows["windows"].append(extra)
    (folder / "windows.yaml").write_text(yaml.safe_dump(windows, sort_keys=False))
    return folder
