"""Approval before a wave: the flow run pauses with a typed input the Prefect UI shows as a form.

Approve (optionally excluding instances), or abort; no answer before the window's
``approval_timeout_minutes`` aborts. ``patchwave approve RUN_ID`` answers from the command line.
"""

from __future__ import annotations

import datetime as dt

from prefect import get_run_logger, pause_flow_run
from prefect.input import RunInput
from pydantic import Field

from patchwave.window.decisions import Decision
from patchwave.window.planning import WavePlan


class ApprovalInput(RunInput):
    """The form shown in the Prefect UI when a wave waits for approval."""

    approve: bool = Field(default=True, description="Approve the wave (false aborts the window).")
    exclude_instances: list[str] = Field(default_factory=list, description="Instance ids to leave out.")
    decided_by: str = Field(default="", description="Who decides (recorded in the report).")
    note: str = Field(default="", description="Why (recorded in the report).")


def ask_approval(wave: WavePlan, timeout_minutes: float, now: dt.datetime) -> Decision:
    logger = get_run_logger()
    logger.warning(
        "Wave %s waits for approval (%d instance(s) to install); resume the run with an "
        "ApprovalInput within %g minute(s) or the window aborts",
        wave.name,
        len(wave.install_ids),
        timeout_minutes,
    )
    try:
        answer = pause_flow_run(
            wait_for_input=ApprovalInput.with_initial_data(
                description=f"Approve wave **{wave.name}**: {len(wave.install_ids)} instance(s) to install."
            ),
            timeout=max(1, round(timeout_minutes * 60)),
            poll_interval=2,
            key=f"approve-{wave.name}",
        )
    except Exception as exc:  # noqa: BLE001 - Prefect raises on a pause that timed out
        logger.warning("No approval for wave %s: %s", wave.name, exc)
        return Decision(wave=wave.name, decision="timed_out", note=str(exc)[:200], at=now)
    if answer is None:
        return Decision(wave=wave.name, decision="timed_out", at=now)
    return Decision(
        wave=wave.name,
        decision="approved" if answer.approve else "aborted",
        decided_by=answer.decided_by,
        note=answer.note,
        excluded=list(answer.exclude_instances),
        at=now,
    )
