"""The rollout: rings of windows in order, ring 1's installed patches frozen for the others.

Each ring is its own flow run (its own run id, ledger and report) on one fleet handle, so the
simulator keeps its state and virtual clock across rings. Between rings the flow bakes on the
fleet's clock (virtual on the simulator: it advances, it never sleeps) and checks the gate;
a failed gate stops the rollout (state failed_gate) until an operator promotes or aborts it:
in a paused run's form (``flows/rollout_pause.py``) or with ``patchwave rollout promote|abort``.
The state is durable in the history store (``patchwave/history/rollouts.py``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from prefect import flow, get_run_logger
from prefect.states import Cancelled, Completed, Failed, State

from flows.parameters import checked
from flows.patch_window import DEFAULT_FLEET, run_window
from flows.rollout_pause import ask_decision, current_run_id
from patchwave.config import Window, load_config
from patchwave.config.rollouts import Rollout, load_rollouts
from patchwave.connect import FleetHandle, open_fleet
from patchwave.errors import ConfigError
from patchwave.history.port import HistoryStore
from patchwave.history.rollouts import load_rollout, open_rollout_store, save_rollout
from patchwave.reports.report import Report
from patchwave.window.named import NamedPatches
from patchwave.window.rollout import RolloutState, adopt, check_gate, decide, frozen_set, new_state
from patchwave.window.rollout_bake import bake, ring_alarms


def find_rollout(config_dir: str, name: str) -> tuple[Rollout, dict[str, Window]]:
    """The rollout and its windows; bad input raises ConfigError before any fleet call."""
    config = load_config(config_dir)
    windows = {w.name: w for w in config.windows.windows}
    rollout = load_rollouts(config_dir, set(windows)).get(name)
    if rollout is None:
        raise ConfigError(f"{config_dir}/rollouts.yaml", "rollouts", name, "no such rollout")
    return rollout, windows


@flow(name="rollout-ring", validate_parameters=False)
def rollout_ring(handle: Any, window: Any, report_dir: str, named: Any = None) -> Report:
    """One ring: the window on the shared handle, as a flow run of its own (``Any``: Prefect
    cannot build a parameter schema for the fleet handle)."""
    return run_window(handle, window, report_dir=report_dir, reason="rollout ring", named=named)


def _iso(handle: FleetHandle) -> str:
    return handle.clock.now().isoformat()


def run_rings(
    handle: FleetHandle,
    rollout: Rollout,
    windows: dict[str, Window],
    state: RolloutState,
    report_dir: str,
    store: HistoryStore,
    pause: bool = False,
) -> State:
    """Run every ring from the first not passed/promoted. At a failed gate: with ``pause`` (and
    the rollout's ``pause_hours``), wait in the paused run for a typed decision; else stop. The
    state is written to the store at every step."""
    logger = get_run_logger()

    state.status, state.reason = "running", ""
    while (index := state.next_ring()) is not None:
        ring, ring_state = rollout.rings[index], state.rings[index]
        spec = windows[ring.window]
        named = None
        if index > 0 and not state.frozen:  # never fall back to what the baseline approves now
            ring_state.status, ring_state.reason = "passed", "ring 1 installed nothing: nothing to install"
            save_rollout(store, state, handle.clock.now())
            continue
        if index > 0:  # exactly ring 1's set, per operating system
            frozen_ids = sorted({i for ids in state.frozen.values() for i in ids})
            spec = Window.model_validate(spec.model_dump() | {"install_override": frozen_ids})
            named = NamedPatches(
                tuple(frozen_ids), tuple((os_name, tuple(ids)) for os_name, ids in state.frozen.items())
            )
        started = handle.clock.now()
        ring_state.status, ring_state.started_at = "running", started.isoformat()
        save_rollout(store, state, started)
        report = rollout_ring(handle, spec, report_dir, named)
        ring_state.run_id = report.run_id
        if index == 0:
            platform_of = {
                i.instance_id: i.platform for i in report.instances if i.outcome.value == "patched"
            }
            state.frozen = frozen_set(
                platform_of, handle.fleet.instance_patches(sorted(platform_of)), started
            )
            logger.info("Rollout %s: frozen patch set %s", rollout.name, state.frozen)
        ring_state.status = "baking"
        save_rollout(store, state, handle.clock.now())
        alarm = bake(handle.fleet, handle.clock, ring_alarms(windows[ring.window]), ring.bake_minutes)
        gate = check_gate(report.totals, ring.min_success_rate, ring.allow_failed_verification, alarm)
        ring_state.finished_at = _iso(handle)
        if not gate.passed:
            ring_state.status, ring_state.reason = "failed_gate", gate.reason
            state.status, state.reason = "failed_gate", f"ring {index + 1} ({ring.window}): {gate.reason}"
            waiting = current_run_id() if pause and rollout.pause_hours > 0 else None
            state.paused_run = str(waiting or "")
            save_rollout(store, state, handle.clock.now())
            if waiting is None:
                return Failed(message=f"rollout {rollout.name}: {state.reason}")
            ended = wait_for_decision(store, rollout, state, index)
            if ended is not None:
                return ended
            continue
        ring_state.status = "passed"
        save_rollout(store, state, handle.clock.now())
    state.status = "passed"
    save_rollout(store, state, handle.clock.now())
    return Completed(message=f"rollout {rollout.name}: {len(state.rings)} ring(s) passed")


def wait_for_decision(store: HistoryStore, rollout: Rollout, state: RolloutState, index: int) -> State | None:
    """The paused run's answer, applied in one transaction (None: promoted, go on)."""
    ring = rollout.rings[index]
    answer = ask_decision(
        rollout.name, index + 1, ring.window, state.rings[index].reason, rollout.pause_hours
    )
    now = dt.datetime.now(dt.UTC)  # an operator's decision happens on wall time
    if answer is None:

        def stop_waiting(stored: RolloutState) -> RolloutState:
            stored.paused_run = ""
            return stored

        adopt(state, store.update_rollout(rollout.name, stop_waiting) or state)
        return Failed(
            message=f"rollout {rollout.name}: {state.reason}; no decision within {rollout.pause_hours:g} h "
            "(promote or abort with `patchwave rollout`)"
        )
    status = "promoted" if answer.decision == "promote" else "aborted"
    try:
        decided = store.update_rollout(
            rollout.name, lambda stored: decide(stored, status, answer.reason, now)
        )
    except ConfigError as exc:  # decided meanwhile from the CLI (after the pause had ended)
        return Failed(message=f"rollout {rollout.name}: {exc}")
    adopt(state, decided or state)
    if status == "aborted":
        return Cancelled(message=f"rollout {rollout.name} aborted: {answer.reason}")
    get_run_logger().info("Rollout %s: ring %d promoted (%s)", rollout.name, index + 1, answer.reason)
    return None


@flow(name="rollout")
def rollout(
    name: str,
    config_dir: str = "config",
    fleet: str = DEFAULT_FLEET,
    report_dir: str = "reports",
    speed: float | None = None,
    after_promote: bool = False,
    pause: bool = True,
) -> State:
    """Start a rollout (or, ``after_promote``, continue it from its stored state).
    ``pause``: a ring that fails its gate pauses this run for a promote/abort decision (the
    form in the UI) for the rollout's ``pause_hours``; without, the run ends Failed at once."""
    spec, windows = find_rollout(config_dir, name)
    store = open_rollout_store(config_dir)
    state = load_rollout(store, name, report_dir) if after_promote else None
    if after_promote and state is None:
        raise ConfigError("rollout", "name", name, "no rollout state to continue")
    if state is None:
        state = new_state(name, [r.window for r in spec.rings])
    if state.status == "aborted":
        return Failed(message=f"rollout {name} was aborted: {state.reason}")
    handle = open_fleet(fleet, load_config(config_dir), speed)
    return run_rings(handle, spec, windows, state, report_dir, store, pause)


checked(rollout)  # deployment parameters: one line, before anything starts


def mark(
    store: HistoryStore,
    name: str,
    status: str,
    reason: str,
    now: dt.datetime | None = None,
    report_dir: str | None = None,
) -> RolloutState:
    """promote: the failed ring becomes promoted; abort: the rollout ends. One transaction."""
    if not reason.strip():
        raise ConfigError("rollout", "--reason", reason, "a reason is required")
    load_rollout(store, name, report_dir)  # a legacy state file is migrated first
    when = now or dt.datetime.now(dt.UTC)
    changed = store.update_rollout(name, lambda state: decide(state, status, reason, when))
    if changed is None:
        raise ConfigError("rollout", "name", name, "no rollout state (start it first)")
    return changed
