"""What ``patchwave plan`` shows of rollouts: for a window that is a ring, its rollout, the
ring's place, bake and gate, and the patch set it will install.

Ring 1 installs what its baseline approves; every later ring installs exactly ring 1's frozen
set, which exists only once ring 1 has run: the plan then reads it from the rollout's durable
state (the history store) and lists it per platform, else says it will be frozen from ring 1.
A plan of a later ring is still computed from the baseline (what is missing now), so these
lines say what the ring will really be asked to install.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from patchwave.config import Config
from patchwave.config.rollouts import load_rollouts
from patchwave.window.rollout import RolloutState
from patchwave.window.rollout_bake import ring_alarms

RING1_RAN = frozenset({"baking", "passed", "failed_gate", "promoted"})


def rings_of(config: Config, window: str) -> list[tuple[str, int]]:
    """(rollout, ring number) for every rollout in which ``window`` is a ring."""
    names = {w.name for w in config.windows.windows}
    return [
        (rollout.name, number)
        for rollout in load_rollouts(config.directory, names).rollouts
        for number, ring in enumerate(rollout.rings, 1)
        if ring.window == window
    ]


def plan_rings(
    config: Config, window: str, state_of: Callable[[str], RolloutState | None]
) -> list[dict[str, Any]]:
    """One entry per rollout the window is a ring of (``state_of``: a rollout's stored state)."""
    names = {w.name for w in config.windows.windows}
    rollouts = {r.name: r for r in load_rollouts(config.directory, names).rollouts}
    entries = []
    for name, number in rings_of(config, window):
        rollout, ring = rollouts[name], rollouts[name].rings[number - 1]
        state = state_of(name)
        ring1_ran = state is not None and bool(state.rings) and state.rings[0].status in RING1_RAN
        frozen: dict[str, list[str]] | None = dict(state.frozen) if state is not None and ring1_ran else None
        entries.append(
            {
                "rollout": name,
                "ring": number,
                "rings": len(rollout.rings),
                "status": state.rings[number - 1].status if state is not None else "not started",
                "bake_minutes": ring.bake_minutes,
                "gate": {
                    "min_success_rate": ring.min_success_rate,
                    "allow_failed_verification": ring.allow_failed_verification,
                    "alarms_during_bake": list(ring_alarms(config.window(window))),
                },
                "patch_set": "baseline" if number == 1 else ("frozen" if frozen is not None else "pending"),
                "frozen": frozen if number > 1 else None,
            }
        )
    return entries


def ring_lines(entries: list[dict[str, Any]]) -> list[str]:
    lines = []
    for entry in entries:
        gate = entry["gate"]
        alarms = ", ".join(gate["alarms_during_bake"]) or "none configured"
        head = f"rollout {entry['rollout']} ring {entry['ring']} of {entry['rings']} ({entry['status']})"
        verification = "allowed" if gate["allow_failed_verification"] else "none"
        lines.append(
            f"{head}: bake {entry['bake_minutes']} min; gate: success rate >= "
            f"{gate['min_success_rate']:.2f}, failed verification {verification}, "
            f"no alarm during the bake (alarms: {alarms})"
        )
        if entry["patch_set"] == "baseline":
            lines.append(
                f"{head}: installs what its baseline approves; that set is frozen for the later rings"
            )
        elif entry["patch_set"] == "pending":
            lines.append(f"{head}: patch set frozen from ring 1 when it runs")
        elif not entry["frozen"]:
            lines.append(f"{head}: ring 1 installed nothing: this ring installs nothing")
        else:
            for platform, ids in sorted(entry["frozen"].items()):
                listed = f"{len(ids)} package(s): {', '.join(ids)}"
                lines.append(f"{head}: installs ring 1's frozen set, {platform}: {listed}")
    return lines


def stored_rings(config: Config, window: str) -> list[dict[str, Any]]:
    """``plan_rings`` with each rollout's state read from the history store (opened only when
    the window is a ring of some rollout)."""
    if not rings_of(config, window):
        return []
    from patchwave.history.rollouts import open_rollout_store

    store = open_rollout_store(config.directory)
    try:
        return plan_rings(config, window, store.rollout)
    finally:
        store.close()
