"""A ring that failed its gate pauses the rollout's flow run for a typed decision.

The Prefect UI shows ``RingDecision`` as a form on the paused run (promote or abort, and why);
``patchwave rollout promote|abort`` answers the same way through the API while the run waits.
The model refuses bad input (an unknown decision, a blank reason), and Prefect's server checks
an answer against the model's JSON schema before it resumes the run, so a bad answer never
reaches the flow. No answer within the rollout's ``pause_hours`` leaves the rollout
``failed_gate``: the CLI can still promote (then it runs the remaining rings) or abort.
"""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from prefect import get_run_logger, pause_flow_run
from prefect.context import FlowRunContext
from prefect.exceptions import FlowPauseTimeout
from prefect.input import RunInput
from pydantic import Field


class RingDecision(RunInput):
    """What to do with a rollout whose ring failed its gate."""

    decision: Literal["promote", "abort"] = Field(
        description="promote: go on with the next ring despite the gate; abort: end the rollout."
    )
    reason: str = Field(
        min_length=1, max_length=500, pattern=r"\S", description="Why (recorded in the rollout state)."
    )


def current_run_id() -> UUID | None:
    context = FlowRunContext.get()
    return context.flow_run.id if context is not None and context.flow_run is not None else None


def ask_decision(rollout: str, ring: int, window: str, reason: str, hours: float) -> RingDecision | None:
    """Pause the current flow run until someone decides (None: nobody did within ``hours``)."""
    logger = get_run_logger()
    timeout = max(1, round(hours * 3600))
    logger.warning(
        "Rollout %s: ring %d (%s) failed its gate (%s); the run waits %g h for a RingDecision "
        "(promote or abort, with a reason): in the Prefect UI, or `patchwave rollout promote|abort %s`",
        rollout,
        ring,
        window,
        reason,
        hours,
        rollout,
    )
    form = RingDecision.with_initial_data(
        description=f"Rollout **{rollout}**: ring {ring} ({window}) failed its gate: {reason}"
    )
    try:
        answer: RingDecision = pause_flow_run(
            wait_for_input=form, timeout=timeout, poll_interval=2, key=f"ring-{ring}-gate"
        )
    except FlowPauseTimeout:
        logger.warning("Rollout %s: no decision within %g h; it stays failed_gate", rollout, hours)
        return None
    return answer
