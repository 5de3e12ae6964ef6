"""Approval before a wave: the flow run pauses with a typed input the Prefect UI shows as a form.

Approve (optionally excluding instances), or abort; no answer before the window's
``approval_timeout_minutes`` aborts. ``patchwave approve RUN_ID`` answers from the command line.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from typing import Any

from prefect import get_run_logger, pause_flow_run
from prefect.client.orchestration import get_client
from prefect.context import FlowRunContext
from prefect.input import RunInput
from prefect.input.actions import read_flow_run_input
from prefect.input.run_input import Keyset, keyset_from_paused_state
from prefect.states import Paused
from pydantic import Field

from patchwave.window.decisions import Decision
from patchwave.window.planning import WavePlan
from tasks.prefect_api import api_unreachable

log = logging.getLogger("patchwave.approval")


class ApprovalInput(RunInput):
    """The form shown in the Prefect UI when a wave waits for approval."""

    approve: bool = Field(default=True, description="Approve the wave (false aborts the window).")
    exclude_instances: list[str] = Field(default_factory=list, description="Instance ids to leave out.")
    decided_by: str = Field(default="", description="Who decides (recorded in the report).")
    note: str = Field(default="", description="Why (recorded in the report).")


API_POLL_SECONDS = 2.0


class ApiUnreachable(Exception):
    """Prefect's API did not come back within the approval timeout."""


def _approval_form(wave: WavePlan) -> type[ApprovalInput]:
    return ApprovalInput.with_initial_data(
        description=f"Approve wave **{wave.name}**: {len(wave.install_ids)} instance(s) to install."
    )


def ask_approval(wave: WavePlan, timeout_minutes: float, now: dt.datetime) -> Decision:
    """Pause for the operator's typed answer. A Prefect API outage while waiting decides
    nothing: the wait goes on until the API is back (within the approval timeout), the operator
    then has the whole timeout again, and only their answer approves; nothing is sent meanwhile."""
    logger = get_run_logger()
    logger.warning(
        "Wave %s waits for approval (%d instance(s) to install); resume the run with an "
        "ApprovalInput within %g minute(s) or the window aborts",
        wave.name,
        len(wave.install_ids),
        timeout_minutes,
    )
    timeout = max(1, round(timeout_minutes * 60))
    key = f"approve-{wave.name}"
    try:
        answer: ApprovalInput | None
        try:
            answer = pause_flow_run(
                wait_for_input=_approval_form(wave), timeout=timeout, poll_interval=2, key=key
            )
        except Exception as exc:  # noqa: BLE001 - an outage is told apart below
            if not api_unreachable(exc):
                raise
            answer = _wait_through_outage(wave, key, timeout, logger, exc)
    except ApiUnreachable as exc:
        logger.warning("No approval for wave %s: %s", wave.name, exc)
        return Decision(wave=wave.name, decision="unreachable", note=str(exc)[:200], at=now)
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


def _wait_through_outage(
    wave: WavePlan, key: str, timeout: int, logger: Any, first: BaseException
) -> ApprovalInput | None:
    """Prefect's API went away during the pause: retry reaching it (for up to the approval
    timeout), then read where the pause stands. Paused: wait for the answer (the whole timeout
    again). Resumed: the answer the operator gave, read as it was stored; no stored answer is
    no approval (``RunInput.load`` would fill in the form's defaults, approve=True). Still
    running and the pause key never fired (the pause never reached the server): pause again.
    Each outage may last up to the approval timeout; then the wave is ``unreachable``."""
    context = FlowRunContext.get()
    assert context is not None and context.flow_run is not None
    run_id = context.flow_run.id
    keyset = keyset_from_paused_state(Paused(pause_key=key))
    message = "Prefect's API is unreachable while wave %s waits for approval (%s): retrying; nothing is sent"
    logger.warning(message, wave.name, type(first).__name__)
    log.warning(message, wave.name, type(first).__name__)
    api_deadline: float | None = time.monotonic() + timeout
    answer_deadline: float | None = None
    while True:
        try:
            with get_client(sync_client=True) as client:
                run = client.read_flow_run(run_id)
                api_deadline = None
                state = run.state
                if state is not None and state.is_paused():
                    if answer_deadline is None:
                        answer_deadline = time.monotonic() + timeout
                        logger.warning("Prefect's API is back: wave %s still waits for approval", wave.name)
                    if time.monotonic() >= answer_deadline:
                        return None
                elif state is not None and state.is_running():
                    stored = _stored(run_id, keyset)
                    if stored is not None:
                        return stored
                    if key not in (run.empirical_policy.pause_keys or set()):  # the pause never took
                        return pause_flow_run(
                            wait_for_input=_approval_form(wave), timeout=timeout, poll_interval=2, key=key
                        )
                    return None  # resumed without an answer: not approved
                else:
                    raise RuntimeError(f"the flow run is {state.name if state else 'without a state'}")
        except Exception as exc:  # noqa: BLE001 - only an outage is waited out
            if not api_unreachable(exc):
                raise
            answer_deadline = None  # the operator's time starts again when the API is back
            api_deadline = api_deadline or time.monotonic() + timeout
            if time.monotonic() >= api_deadline:
                raise ApiUnreachable(
                    f"Prefect's API stayed unreachable for {timeout} s while wave {wave.name} waited "
                    "for approval; nothing was sent"
                ) from exc
        time.sleep(API_POLL_SECONDS)


def _stored(run_id: Any, keyset: Keyset) -> ApprovalInput | None:
    value: Any = read_flow_run_input(keyset["response"], flow_run_id=run_id)
    return ApprovalInput.model_validate(value) if value else None
