"""The simulated fleet: an in-process, seeded implementation of the Fleet port."""

from __future__ import annotations

from pathlib import Path

from patchwave.clock import Clock, ScaledClock, VirtualClock
from patchwave.config.baselines import BaselinesFile
from patchwave.config.loader import load_model
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
    clock = clock_for(spec, speed)
    return SimulatedFleet(spec, baselines, clock), clock
