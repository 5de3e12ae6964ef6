"""Safety invariants checked from the simulated fleet's own evidence, not from the runner."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from patchwave.sim.fleet import SimulatedFleet

FAR = dt.datetime.max.replace(tzinfo=dt.UTC)


def max_concurrent_installs(fleet: SimulatedFleet, members: Iterable[str]) -> int:
    """The most install invocations (of these instances) running at one moment, in the fleet's
    own timeline: from SendCommand to the end (or the cancel) of each invocation."""
    wanted = set(members)
    edges: list[tuple[dt.datetime, int]] = []
    for inv in fleet.invocations():
        if inv.operation != "Install" or inv.instance_id not in wanted or inv.sent is None:
            continue
        end = inv.cancelled_at or inv.end or FAR
        edges.append((inv.sent, 1))
        edges.append((end, -1))
    edges.sort(key=lambda e: (e[0], e[1]))  # an end at the same moment frees before a start
    peak = current = 0
    for _, delta in edges:
        current += delta
        peak = max(peak, current)
    return peak


def install_starts(fleet: SimulatedFleet) -> dict[str, list[dt.datetime]]:
    starts: dict[str, list[dt.datetime]] = {}
    for inv in fleet.invocations():
        if inv.operation == "Install" and inv.sent is not None:
            starts.setdefault(inv.instance_id, []).append(inv.sent)
    return starts
