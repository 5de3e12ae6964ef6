"""The simulated fleet: an in-process, seeded implementation of the Fleet port."""

from __future__ import annotations

from pathlib import Path

from patchwave.clock import Clock, ScaledClock, VirtualClock
from patchwave.config.baselines import BaselinesFile
from patchwave.config.loader import load_model
from patchwave.sim import state_file
from patchwave.sim.fleet import SimulatedFleet
from patchwave.sim.spec import FleetSpec

__all__ = ["FleetSpec", "SimulatedFleet", "load_spec", "open_simulated"]


def load_spec(path: Path | str) -> FleetSpec:
    return load_model(FleetSpec, Path(path))


def clock_for(spec: FleetSpec, speed: float | None = None) -> Clock:
    """The clock a spec asks for; ``speed`` overrides it: 0 for virtual time (as fast as
    possible), a positive number for a clock that many times faster than real time."""
    if speed == 0:
        return VirtualClock(spec.start)
    if speed is not None:
        return ScaledClock(spec.start, speed)
    if spec.clock.mode == "scaled":
        return ScaledClock(spec.start, spec.clock.speed)
    return VirtualClock(spec.start)


def open_simulated(
    spec: FleetSpec, baselines: BaselinesFile, speed: float | None = None
) -> tuple[SimulatedFleet, Clock]:
    if spec.state_file:
        state_file.claim(Path(spec.state_file))  # refused while another process drives it
    if spec.state_file and Path(spec.state_file).exists():
        fleet = SimulatedFleet.load(Path(spec.state_file))  # the fleet a run that died left
        return fleet, fleet.clock
    clock = clock_for(spec, speed)
    fleet = SimulatedFleet(spec, baselines, clock)
    fleet.save()
    return fleet, clock
