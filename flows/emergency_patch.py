"""Emergency patching by hand: a deployment with no schedule, a form in the Prefect UI."""

from __future__ import annotations

from prefect import flow
from prefect.states import Failed, State

from flows.freeze import freeze_status, refused
from flows.history_hook import record_window_history
from flows.parameters import checked
from flows.patch_window import DEFAULT_FLEET, final_state, run_window
from patchwave.config import load_config
from patchwave.connect import open_fleet
from patchwave.window.emergency import EmergencyRequest, emergency_window


@flow(name="emergency-patch", flow_run_name="emergency")
def emergency_patch(
    request: EmergencyRequest,
    config_dir: str = "config",
    fleet: str = DEFAULT_FLEET,
    report_dir: str = "reports",
    speed: float | None = None,
) -> State:
    """Patch the named instances now, canary first unless told otherwise."""
    config = load_config(config_dir)
    window = emergency_window(request)
    handle = open_fleet(fleet, config, speed)
    frozen = freeze_status(handle, [config.windows.freezes], handle.clock.now())
    if frozen.frozen and not request.override_freeze:
        return refused("emergency", frozen, "--override-freeze REASON runs it anyway")
    override = f"{frozen.reason}; overridden: {request.override_freeze}" if frozen.frozen else ""
    report = run_window(
        handle, window, report_dir=report_dir, reason=request.reason, freeze_override=override
    )
    record_window_history(handle, report, config_dir, "emergency")
    if not report.instances:
        # an emergency that patches nothing must not look like one that succeeded
        return Failed(message="emergency: the targets match no managed instance; nothing was patched")
    return final_state(report)


checked(emergency_patch)  # deployment parameters: one line, before anything starts
