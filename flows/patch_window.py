"""The patch window: scan -> compliance check -> plan -> waves in order -> report.

This flow is what replaces a Systems Manager maintenance window. A wave whose errors exceed its
threshold halts the window: later waves are not_attempted, the report is still written and
published, and the flow run ends Failed. Past the window's cutoff nothing new starts.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from prefect import flow, get_run_logger
from prefect.runtime import flow_run
from prefect.runtime.flow_run import get_scheduled_start_time
from prefect.states import State

from flows.approval import ask_approval
from flows.freeze import freeze_check
from flows.history_hook import record_window_history
from flows.offline import Orchestration
from flows.opaque import opaque
from flows.output import output_locator
from flows.parameters import checked
from flows.run_names import window_run_name
from flows.states import final_state, install_quiet_stops
from patchwave import events
from patchwave.clock import WallClock
from patchwave.compliance.summary import ComplianceReport
from patchwave.config import Window, load_config
from patchwave.connect import FleetHandle, open_fleet
from patchwave.reports.report import Report, build_report
from patchwave.state import ledger_lock
from patchwave.state.ledger import (
    check_resumable,
    check_run_id,
    plan_from_dict,
    plan_to_dict,
    result_from_dict,
    result_to_dict,
)
from patchwave.state.run_claim import hold_run
from patchwave.window.decisions import Decision
from patchwave.window.drain import wave_drains
from patchwave.window.gates import wave_alarms
from patchwave.window.named import NamedPatches, check_platforms
from patchwave.window.planning import WavePlan, exclude
from patchwave.window.runner import WaveResult, WaveSettings, merge, not_run, retry_part
from patchwave.window.snapshots import policy_for
from tasks.inventory import discover_targets
from tasks.named_patches import assess_named, resolve_named_patches
from tasks.patch_lists import patch_lists
from tasks.reporting import notify, publish_report
from tasks.scan import assess, scan_instances
from tasks.wave_states import wave_result
from tasks.waves import finished_wave, plan_waves, run_wave

DEFAULT_FLEET = "sim:config/fleets/demo.yaml"
install_quiet_stops()


def current_run_id() -> str:
    run_id = flow_run.get_id()
    return str(run_id) if run_id else str(uuid.uuid4())


def settings_for(
    window: Window,
    snapshot_id: str,
    run_id: str,
    stop_at: dt.datetime,
    attempt: int = 1,
    named: NamedPatches | None = None,
) -> WaveSettings:
    return WaveSettings(
        snapshot_id=snapshot_id,
        run_id=run_id,
        reboot=window.reboot,
        reboot_concurrency=window.reboot_concurrency,
        install_override=named.ids if named else tuple(window.install_override),
        named=named,
        install_timeout=dt.timedelta(minutes=window.timeouts.install_minutes),
        scan_timeout=dt.timedelta(minutes=window.timeouts.scan_minutes),
        reboot_timeout=dt.timedelta(minutes=window.timeouts.reboot_minutes),
        health_check=window.health_check,
        stop_starting_at=stop_at,
        overlap_wait=dt.timedelta(minutes=window.overlap_wait_minutes),
        attempt=attempt,
        undelivered_are_errors=window.count_undelivered_as_errors,
        alarms=tuple((w.name, wave_alarms(window.alarms, w.alarms)) for w in window.waves),
        verify_batch_wait=dt.timedelta(seconds=window.pacing.verify_batch_seconds),
        reboot_grace=dt.timedelta(seconds=window.pacing.reboot_grace_seconds),
        min_poll_seconds=window.pacing.min_poll_seconds,
        max_poll_seconds=window.pacing.max_poll_seconds,
        snapshots=policy_for(window.name, window.snapshot),
        drains=wave_drains(window),
    )


def window_start(handle: FleetHandle) -> dt.datetime:
    """When the window opened: a scheduled run's slot on real time (a run that starts late
    still ends on time), else now on the fleet's clock (started by hand, or simulated)."""
    scheduled = get_scheduled_start_time() if isinstance(handle.clock, WallClock) else None
    now = handle.clock.now()
    if scheduled is not None and scheduled.astimezone(dt.UTC) < now:
        # a plain datetime: Prefect's DateTime drops its time zone when a timedelta is added
        return dt.datetime.fromtimestamp(scheduled.timestamp(), dt.UTC)
    return now


def run_window(handle: FleetHandle, window: Window, *, report_dir: str, **options: Any) -> Report:
    """``_run_window`` by this process alone: the run is claimed first (another live process
    of the same run id refuses it here, before any fleet call) and kept alive until it ends."""
    run_id = options.get("resume") or current_run_id()
    try:
        with hold_run(handle.leases, check_run_id(run_id)):
            return _run_window(handle, window, report_dir=report_dir, **options)
    finally:
        ledger_lock.release_run(run_id)


def _run_window(
    handle: FleetHandle,
    window: Window,
    *,
    report_dir: str,
    report_json: str | None = None,
    reason: str = "",
    snapshot_id: str | None = None,
    retry_of: str = "",
    resume: str | None = None,
    freeze_override: str = "",
    named: NamedPatches | None = None,
) -> Report:
    """Compose the window's tasks; returns the report (already written and published).
    ``named``: install ids per operating system already decided (a rollout's frozen set).

    Everything the run starts is written to its ledger first; ``resume`` (a run id) picks a run
    that died back up from its ledger: finished waves stand, the running wave is re-attached."""
    logger = get_run_logger()
    orch = Orchestration(logger)
    clock = handle.clock
    wall_started = dt.datetime.now(dt.UTC)
    run_id = resume or current_run_id()
    ledger = handle.runs.ledger(report_dir, check_run_id(run_id))
    earlier = ledger.entries()
    attempt = flow_run.get_run_count() or 1
    if resume:  # a run of this window, its ledger sound (wherever the store keeps it)
        check_resumable(earlier, resume, window.name, str(ledger.path))

    source, field = f"window {window.name}", "install_override"
    named = named or (
        orch.call(resolve_named_patches, handle, window.install_override, source, field)
        if window.install_override and window.operation == "Install"
        else None
    )
    events.publish(events.Phase("discover", f"targets of window {window.name} (run {run_id})"))
    logger.info("Window %s (run %s, attempt %d): discovering targets", window.name, run_id, attempt)
    targets = orch.call(discover_targets, handle, window.targets)
    if named is not None:
        check_platforms(named, targets, source, field)  # before the scan touches an instance
    started_entry = next((e for e in earlier if e["kind"] == "start"), None)
    plan_entry = next((e for e in earlier if e["kind"] == "plan"), None)
    if started_entry is not None and plan_entry is not None:
        if resume:
            logger.warning("Resuming run %s from its ledger (%d entries)", run_id, len(earlier))
        else:  # Prefect's Retry: the plan (and its warnings) and finished waves stand
            logger.info(
                "Attempt %d of run %s: the plan and finished waves of earlier attempts stand", attempt, run_id
            )
        started = dt.datetime.fromisoformat(started_entry["started"])
        if attempt == 1 and started_entry.get("wall_started"):
            wall_started = dt.datetime.fromisoformat(started_entry["wall_started"])
        snapshot_id = started_entry["snapshot_id"]
        plan = plan_from_dict(plan_entry["plan"])
        before_report = ComplianceReport.model_validate(plan_entry["before"])
    else:
        started = window_start(handle)
        # one snapshot per run, the same in every attempt of it (retries install the same patch set)
        snapshot_id = snapshot_id or str(uuid.uuid5(uuid.NAMESPACE_URL, f"patchwave:{run_id}"))
        online = [t.instance_id for t in targets if t.online]
        logger.info("Window %s: %d target(s), %d online", window.name, len(targets), len(online))
        events.publish(events.Phase("scan", f"{len(online)} online instance(s)"))
        # opaque(): large arguments pass as they are; Prefect would otherwise walk every instance
        orch.call(scan_instances, handle, opaque(online), snapshot_id, run_id, window.timeouts.scan_minutes)
        before = orch.call(assess, handle, opaque(targets), scope="before")
        for line in before.report.headlines():
            logger.info("Before: %s", line)
        events.publish(events.Phase("plan", window.name))
        busy = sorted(handle.leases.holders([t.instance_id for t in targets], clock.now()))
        logger.info("Planning the waves of window %s", window.name)
        # with named patches, an instance needs patching when it misses one of them, whatever its baseline
        needs = (
            orch.call(assess_named, handle, opaque(targets), named, source, field)
            if named
            else before.compliance
        )
        plan = orch.call(
            plan_waves,
            window,
            opaque(targets),
            opaque(before.states),
            opaque(needs),
            busy_elsewhere=busy,
        )
        before_report = before.report
        ledger.write(  # one durable write: a run is resumable from its first line on
            [
                (
                    "start",
                    {
                        "started": started,
                        "snapshot_id": snapshot_id,
                        "window": window.name,
                        "wall_started": wall_started,
                    },
                ),
                ("plan", {"plan": plan_to_dict(plan), "before": before_report.model_dump(mode="json")}),
            ]
        )
    stop_at = started + dt.timedelta(hours=window.duration_hours - window.cutoff_hours)
    settings = settings_for(window, snapshot_id, run_id, stop_at, attempt, named)
    done_waves = {e["wave"]: result_from_dict(e["result"]) for e in earlier if e["kind"] == "wave_done"}

    results: list[WaveResult] = []
    decisions: list[Decision] = []
    stop_reason = "operation is Scan (report only)" if window.operation == "Scan" else ""
    stop_status = "not_attempted"
    for wave in plan.waves:
        earlier_result = done_waves.get(wave.name)
        retrying = earlier_result is not None and earlier_result.attempt < attempt
        if retrying and earlier_result is not None and earlier_result.status in ("halted", "cut_off"):
            # a retried run (Prefect's Retry): take up only what did not succeed in this wave,
            # with the wave's own budget, exactly as `patchwave retry` would
            result = _retry_wave(orch, handle, wave, earlier_result, settings, attempt, str(ledger.path))
            ledger.append("wave_done", wave=wave.name, result=result_to_dict(result))
            results.append(result)
            stop_reason, stop_status = _stopped(wave.name, result, stop_reason, stop_status)
            continue
        if earlier_result is not None:
            result = earlier_result  # finished before the run died (or in an earlier attempt): it stands
            results.append(result)
            if result.status in ("halted", "cut_off", "aborted"):
                stop_reason = stop_reason or f"wave {wave.name!r} {result.status}"
            continue
        resume_entries = [e for e in earlier if e.get("wave") == wave.name]
        if not stop_reason and clock.now() >= stop_at and wave.install_ids and not resume_entries:
            stop_reason, stop_status = "the window's cutoff passed before this wave", "cut_off"
        if not stop_reason and wave.require_approval and wave.install_ids:
            decision = ask_approval(wave, window.approval_timeout_minutes, clock.now())
            decisions.append(decision)
            if decision.decision != "approved":
                stop_reason = f"wave {wave.name!r} was not approved ({decision.decision})"
                stop_status = "aborted"
            elif decision.excluded:
                who = decision.decided_by or "the approver"
                wave = exclude(wave, set(decision.excluded), f"excluded at approval by {who}")
        if stop_reason:
            results.append(not_run(wave, stop_reason, clock.now(), stop_status))
            stop_status = "not_attempted" if stop_status != "cut_off" else "cut_off"
            continue
        result = _wave(orch, handle, wave, settings, "", str(ledger.path), resume_entries)
        ledger.append("wave_done", wave=wave.name, result=result_to_dict(result))
        results.append(result)
        stop_reason, stop_status = _stopped(wave.name, result, stop_reason, stop_status)

    events.publish(events.Phase("report", window.name))
    logger.info("Window %s: checking compliance after the waves", window.name)
    after = orch.call(assess, handle, opaque(targets), scope=f"after-{attempt}")
    lists = (
        orch.call(patch_lists, handle, opaque(results), started, window.patch_lists)
        if window.patch_lists != "none"
        else {}
    )
    report = build_report(
        window=window.name,
        run_id=run_id,
        fleet=handle.description,
        operation=window.operation,
        reboot=window.reboot,
        snapshot_id=snapshot_id,
        started_at=started,
        finished_at=clock.now(),
        plan=plan,
        results=results,
        before=before_report,
        after=after.report,
        api_calls=handle.fleet.api_calls(),
        reason=reason,
        decisions=decisions,
        retry_of=retry_of,
        window_config=window.model_dump(mode="json"),
        attempt=attempt,
        wall_started_at=wall_started,
        output=output_locator(handle, run_id),
        freeze_override=freeze_override,
        patches=lists,
    )
    paths = orch.call(publish_report, opaque(report), report_dir, report_json)
    paths = {**paths, **handle.runs.keep_reports(run_id, paths)}  # any worker can retry it
    paths = {**paths, **orch.call(notify, handle, opaque(report), paths)}
    ledger.append("finished", status=report.status, report=paths["json"])
    events.publish(events.Finished("window", report, paths))
    logger.info("Window %s %s; report %s", window.name, report.status, paths["json"])
    return report


def _stopped(name: str, result: WaveResult, reason: str, status: str) -> tuple[str, str]:
    """What stops the waves after this one (the reason later waves are not_attempted)."""
    if result.status == "halted":
        return f"wave {name!r} halted: {result.stop_reason}", status
    if result.status == "cut_off":
        return f"the window's cutoff passed during wave {name!r}", "cut_off"
    return reason, status


def _wave(
    orch: Orchestration,
    handle: FleetHandle,
    wave: WavePlan,
    settings: WaveSettings,
    scope: str,
    ledger: str,
    resume: list[dict[str, Any]] | None = None,
) -> WaveResult:
    """One wave as a task run named after it (Failed when it halts, with the stop reason)."""
    name = f"wave {wave.name}" + (f" ({scope})" if scope else "")
    state = orch.call(
        run_wave.with_options(task_run_name=name),
        handle,
        opaque(wave),
        settings,
        scope=scope,
        ledger=ledger,
        resume=opaque(resume or []),
        return_state=True,
        _already=lambda: finished_wave(settings, wave, scope),
    )
    return state if isinstance(state, WaveResult) else wave_result(state)


def _retry_wave(
    orch: Orchestration,
    handle: FleetHandle,
    wave: WavePlan,
    earlier: WaveResult,
    settings: WaveSettings,
    attempt: int,
    ledger: str,
) -> WaveResult:
    again = retry_part(wave, earlier)
    if not again.install_ids:
        return earlier
    get_run_logger().info(
        "Attempt %d: retrying %d instance(s) of wave %s (errors tolerated %d, as in the wave)",
        attempt,
        len(again.install_ids),
        wave.name,
        again.max_errors,
    )
    return merge(earlier, _wave(orch, handle, again, settings, f"attempt-{attempt}", ledger))


@flow(name="patch-window", flow_run_name=window_run_name)
def patch_window(
    window: str,
    config_dir: str = "config",
    fleet: str = DEFAULT_FLEET,
    report_dir: str = "reports",
    report_json: str | None = None,
    speed: float | None = None,
    resume: str | None = None,
    patches: list[str] | None = None,
) -> State:
    """Run a configured patch window on a fleet ('sim:PATH' or 'aws'); ``resume`` picks up a
    run that died (its run id), from its ledger; ``patches`` names what to install instead of
    what the baselines approve (the window's install_override)."""
    config = load_config(config_dir)  # bad input fails here, before any fleet call
    spec = config.window(window)
    if patches:
        spec = Window.model_validate(spec.model_dump() | {"install_override": list(patches)})
    handle = open_fleet(fleet, config, speed)
    frozen = freeze_check(handle, [config.windows.freezes, spec.freezes], window_start(handle), spec.name)
    if frozen is not None:  # not started: no fleet call beyond the calendar check
        return frozen
    report = run_window(handle, spec, report_dir=report_dir, report_json=report_json, resume=resume)
    record_window_history(handle, report, config_dir, "window")
    return final_state(report)


checked(patch_window)  # deployment parameters: one line, before anything starts

__all__ = ["DEFAULT_FLEET", "final_state", "patch_window", "run_window"]
