"""Planning waves and running one wave, with a progress artifact updated while it runs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

from prefect import get_run_logger, task
from prefect.artifacts import create_progress_artifact, update_progress_artifact
from prefect.states import State

from patchwave import events
from patchwave.config.windows import Window
from patchwave.connect import FleetHandle
from patchwave.fleet import ComplianceSummary, InstancePatchState, ManagedInstance
from patchwave.window.planning import Plan, WavePlan, plan_window
from patchwave.window.runner import WaveProgress, WaveResult, WaveRunner, WaveSettings
from tasks.artifacts import best_effort
from tasks.caching import per_flow_run
from tasks.wave_states import wave_state


@task(name="plan-waves", cache_key_fn=per_flow_run, persist_result=True)
def plan_waves(
    window: Window,
    targets: Sequence[ManagedInstance],
    states: Mapping[str, InstancePatchState],
    compliance: Mapping[str, ComplianceSummary],
    busy_elsewhere: Sequence[str] = (),
) -> Plan:
    plan = plan_window(window, targets, states, compliance, busy_elsewhere)
    logger = get_run_logger()
    for wave in plan.waves:
        logger.info(
            "Wave %s (%s): %d instance(s), %d to install, concurrency %d, errors tolerated %d",
            wave.name,
            wave.selector,
            len(wave.members),
            len(wave.install_ids),
            wave.max_concurrency,
            wave.max_errors,
        )
    for warning in plan.warnings:
        logger.warning(warning)
    return plan


class _ProgressArtifact:
    """Updates the wave's progress artifact at most once per 5% (each update is an API call);
    best effort: a Prefect API that is down costs the view, never the wave."""

    def __init__(self, wave: WavePlan) -> None:
        self.artifact_id: UUID | None = best_effort(  # type: ignore[assignment]
            create_progress_artifact,
            progress=0.0,
            key=f"wave-{wave.name.lower().replace('_', '-').replace('.', '-')}",
            description=f"Wave {wave.name}: instances finished of {len(wave.install_ids)} to install",
            what=f"the progress of wave {wave.name}",
        )
        self.last = 0.0

    def __call__(self, progress: WaveProgress) -> None:
        events.publish(progress)
        percent = 100.0 * progress.finished / progress.to_install if progress.to_install else 100.0
        if percent - self.last >= 5.0 or (percent == 100.0 and self.last < 100.0):
            self.last = percent
            if (
                self.artifact_id is not None
                and best_effort(
                    update_progress_artifact, self.artifact_id, percent, what="a progress artifact"
                )
                is None
            ):
                self.artifact_id = None  # the API is gone: stop asking it on every step


# Results of waves that finished, kept in this process before Prefect records them: if the API
# is gone by then, the flow takes the result from here instead of running the wave again.
FINISHED: dict[tuple[str, str, str], WaveResult] = {}


def finished_wave(settings: WaveSettings, wave: WavePlan, scope: str = "") -> WaveResult | None:
    return FINISHED.get((settings.run_id, wave.name, scope))


@task(name="run-wave", cache_key_fn=per_flow_run, persist_result=True)
def run_wave(
    handle: FleetHandle,
    wave: WavePlan,
    settings: WaveSettings,
    scope: str = "",
    ledger: str | None = None,
    resume: Sequence[dict[str, Any]] = (),
) -> State | WaveResult:
    """Install one wave with rate control, reboot wait and verification; every start and
    outcome goes to the run's ledger first, and a resumed wave re-attaches to what it finds there.

    A halted or cut-off wave's task run ends Failed with its stop reason (the result rides in
    the state: ``flows.states.wave_result`` takes it out)."""
    logger = get_run_logger()
    events.publish(events.Phase("wave", wave.name))
    logger.info(
        "Wave %s starting: %d to install, concurrency %d, errors tolerated %d",
        wave.name,
        len(wave.install_ids),
        wave.max_concurrency,
        wave.max_errors,
    )
    book = handle.runs.reopen(ledger) if ledger else None
    runner = WaveRunner(
        handle.fleet,
        handle.clock,
        wave,
        settings,
        on_progress=_ProgressArtifact(wave),
        leases=handle.leases,
        record=book.append if book else None,
        resume=resume,
    )
    try:
        result = runner.run()
    finally:
        if book is not None:
            book.close()
    FINISHED[(settings.run_id, wave.name, scope)] = result
    counts = ", ".join(f"{k} {v}" for k, v in sorted(result.counts.items()))
    if result.status in ("halted", "cut_off"):
        logger.warning("Wave %s %s: %s (%s)", wave.name, result.status, result.stop_reason, counts)
    else:
        logger.info(
            "Wave %s %s: %d error(s) of %d tolerated (%s)",
            wave.name,
            result.status,
            result.errors,
            result.max_errors,
            counts,
        )
    return wave_state(result)
