"""Choosing the fleet is configuration: ``sim:PATH`` or ``aws``, never a code path in a flow.

This module is the one place that knows both adapters; flows call ``open_fleet``.
"""

from __future__ import annotations

from dataclasses import dataclass

from patchwave.clock import Clock
from patchwave.config import Config
from patchwave.errors import ConfigError, FleetUnavailable
from patchwave.fleet import Fleet


@dataclass(frozen=True)
class FleetHandle:
    fleet: Fleet
    clock: Clock
    description: str


def parse_fleet_option(value: str) -> tuple[str, str]:
    """'sim:PATH' -> ('sim', PATH); 'aws' -> ('aws', '')."""
    if value == "aws":
        return "aws", ""
    if value.startswith("sim:") and len(value) > 4:
        return "sim", value[4:]
    raise ConfigError("--fleet", "fleet", value, "expected 'sim:PATH' or 'aws'")


def open_fleet(value: str, config: Config, speed: float | None = None) -> FleetHandle:
    kind, path = parse_fleet_option(value)
    if kind == "sim":
        from patchwave.sim import load_spec, open_simulated

        spec = load_spec(path)
        fleet, clock = open_simulated(spec, config.baselines, speed)
        return FleetHandle(fleet, clock, f"simulated fleet {path} (seed {spec.seed})")
    raise FleetUnavailable(
        "--fleet aws: the AWS adapter is not built yet (see issue 'The AWS path'); "
        "use --fleet sim:config/fleets/demo.yaml"
    )
