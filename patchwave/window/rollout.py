"""Rollouts, pure: ring 1 decides the patch set, later rings install exactly that set.

A baseline keeps approving patches as days pass (approve_after_days); a rollout whose ring 2
ran "whatever the baseline approves today" would install in production what no canary ever
saw. So after ring 1 the packages its instances installed *during the ring* (installed_time at
or after the ring's start) are frozen, per operating system, and every later ring runs its
window with them as the install override. The gate between rings reads the ring's report.
The state is durable in the history store (``patchwave/history/rollouts.py``), written whole
in one transaction each time, so a killed process leaves the previous state or the new one.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path

from patchwave.errors import ConfigError
from patchwave.fleet import InstancePatch

STATUSES = ("pending", "running", "baking", "passed", "failed_gate", "promoted", "aborted")
INSTALLED_STATES = frozenset({"INSTALLED", "INSTALLED_PENDING_REBOOT"})
ATTEMPTED = frozenset({"patched", "failed_install", "timed_out", "failed_reboot", "failed_verification"})


def frozen_set(
    platform_of: Mapping[str, str],
    patches: Mapping[str, Sequence[InstancePatch]],
    ring_started: dt.datetime,
) -> dict[str, list[str]]:
    """Operating system -> sorted install ids the ring's instances installed since it started."""
    by_os: dict[str, set[str]] = {}
    for instance_id, listed in patches.items():
        os_name = platform_of.get(instance_id)
        if os_name is None:
            continue  # not one of the ring's instances
        for patch in listed:
            if (
                patch.state in INSTALLED_STATES
                and patch.installed_time
                and patch.installed_time >= ring_started
            ):
                by_os.setdefault(os_name, set()).update(patch.kb_ids)
    return {os_name: sorted(ids) for os_name, ids in sorted(by_os.items())}


@dataclass(frozen=True)
class GateResult:
    passed: bool
    success_rate: float
    failed_verification: int
    reason: str


def check_gate(
    totals: Mapping[str, int],
    min_success_rate: float,
    allow_failed_verification: bool,
    alarm: str = "",
) -> GateResult:
    """Ring success rate = patched / attempted (1.0 when nothing was attempted); no failed
    verification unless allowed; no alarm during the bake (``alarm``: what the bake saw)."""
    attempted = sum(totals.get(k, 0) for k in ATTEMPTED)
    rate = totals.get("patched", 0) / attempted if attempted else 1.0
    failed_verification = totals.get("failed_verification", 0)
    reasons = []
    if rate < min_success_rate:
        reasons.append(f"success rate {rate:.2f} < {min_success_rate:.2f}")
    if failed_verification and not allow_failed_verification:
        reasons.append(f"{failed_verification} failed verification")
    if alarm:
        reasons.append(alarm)
    return GateResult(not reasons, rate, failed_verification, "; ".join(reasons))


@dataclass
class RingState:
    window: str
    status: str = "pending"
    run_id: str = ""
    started_at: str = ""
    finished_at: str = ""
    reason: str = ""


@dataclass
class RolloutState:
    name: str
    rings: list[RingState]
    frozen: dict[str, list[str]] = field(default_factory=dict)
    status: str = "pending"
    reason: str = ""
    updated_at: str = ""
    paused_run: str = ""  # the flow run paused for a typed promote/abort, while it waits

    def next_ring(self) -> int | None:
        """The index of the first ring not yet passed/promoted (None: all done)."""
        for i, ring in enumerate(self.rings):
            if ring.status not in ("passed", "promoted"):
                return i
        return None


def state_path(report_dir: Path | str, name: str) -> Path:
    """Where rollouts kept their state before the history store (read once, then migrated)."""
    return Path(report_dir) / ".rollouts" / f"{name}.json"


def load_state(report_dir: Path | str, name: str) -> RolloutState | None:
    """A state file an earlier patchwave wrote (``patchwave/history/rollouts.py`` migrates it)."""
    path = state_path(report_dir, name)
    if not path.exists():
        return None
    data = json.loads(path.read_text())
    rings = [RingState(**r) for r in data.pop("rings")]
    return RolloutState(rings=rings, **data)


def decide(state: RolloutState, status: str, reason: str, now: dt.datetime) -> RolloutState:
    """An operator's decision on a rollout (CLI or the paused run's form), in place:
    ``promoted``: the ring that failed its gate is promoted and the rollout runs on;
    ``aborted``: the rollout ends, no ring still to run will. Either ends a wait for a decision."""
    if not reason.strip():
        raise ConfigError("rollout", "--reason", reason, "a reason is required")
    if status == "promoted":
        failed = [r for r in state.rings if r.status == "failed_gate"]
        if not failed:
            raise ConfigError(
                "rollout", "name", state.name, f"no ring failed its gate (status {state.status})"
            )
        failed[0].status, failed[0].reason = "promoted", reason
        state.status, state.reason = "running", ""
    else:
        state.status, state.reason = "aborted", reason
        for ring in state.rings:
            if ring.status in ("pending", "failed_gate"):
                ring.status = "aborted"
    state.paused_run = ""
    state.updated_at = now.isoformat()
    return state


def adopt(state: RolloutState, stored: RolloutState) -> RolloutState:
    """Make ``state`` (the flow's object) what the store holds now, in place."""
    for item in fields(state):
        setattr(state, item.name, getattr(stored, item.name))
    return state


def new_state(name: str, windows: Sequence[str]) -> RolloutState:
    return RolloutState(name=name, rings=[RingState(window=w) for w in windows])
