"""Retry an earlier run: only its failed and not attempted instances, in their original waves."""

from __future__ import annotations

from pathlib import Path

from prefect import flow, get_run_logger
from prefect.states import State

from flows.history_hook import record_window_history
from flows.parameters import checked
from flows.patch_window import DEFAULT_FLEET, final_state, run_window
from flows.run_names import retry_run_name
from patchwave.config import Window, load_config
from patchwave.connect import open_fleet, open_run_store
from patchwave.window.retry import check_one_run, find_report, load_report, retry_window, reusable_snapshot


@flow(name="retry-failed", flow_run_name=retry_run_name)
def retry_failed(
    report: str | None = None,
    run_id: str | None = None,
    config_dir: str = "config",
    fleet: str = DEFAULT_FLEET,
    report_dir: str = "reports",
    speed: float | None = None,
) -> State:
    """Take an earlier run (its report file, or its flow run id) and retry what did not succeed."""
    check_one_run(report, run_id, "report", "run_id")
    config = load_config(config_dir)
    # a run of another worker: its report comes from the shared store (when there is one)
    shared = open_run_store(config).fetch_report(report_dir, str(run_id)) if run_id else None
    path = Path(report) if report else shared or find_report(Path(report_dir), str(run_id))
    earlier = load_report(path)
    original = (
        Window.model_validate(earlier.window_config)
        if earlier.window_config
        else config.window(earlier.window)
    )
    window = retry_window(earlier, original)
    handle = open_fleet(fleet, config, speed)
    snapshot = reusable_snapshot(earlier, handle.clock.now())
    logger = get_run_logger()
    logger.info(
        "Retrying %d instance(s) of run %s (%s); snapshot %s",
        len(window.targets.instance_ids),
        earlier.run_id,
        path,
        snapshot or "new: the earlier one has expired",
    )
    result = run_window(
        handle,
        window,
        report_dir=report_dir,
        reason=f"retry of run {earlier.run_id}",
        snapshot_id=snapshot,
        retry_of=earlier.run_id,
    )
    record_window_history(handle, result, config_dir, "retry")
    return final_state(result)


checked(retry_failed)  # deployment parameters: one line, before anything starts
