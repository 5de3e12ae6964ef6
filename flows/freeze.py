"""The freeze gate at the start of a flow: a window (or an emergency) planned during a
blackout or while a Change Calendar is CLOSED does not start.

Checked in the flow, before anything else touches the fleet, so a scheduled run, a run started
by hand and one started from the UI are refused alike; the only fleet call is the calendar
check. The flow run ends Cancelled (not Failed: nothing went wrong, nothing was attempted) with
the reason in one line.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from prefect import get_run_logger
from prefect.states import Cancelled, State

from patchwave.config.gates import Freezes
from patchwave.connect import FleetHandle
from patchwave.errors import PatchwaveError
from patchwave.window.gates import FreezeStatus, freeze_at


class WindowFrozen(PatchwaveError):
    """A run refused by a freeze: the CLI shows it as one line and exits 2."""


def freeze_status(handle: FleetHandle, freezes: Sequence[Freezes], at: dt.datetime) -> FreezeStatus:
    return freeze_at(handle.fleet, freezes, at)


def refused(what: str, status: FreezeStatus, hint: str = "") -> State:
    message = f"{what} not started: {status.reason}" + (f"; {hint}" if hint else "")
    get_run_logger().warning(message)
    return Cancelled(message=message, data=WindowFrozen(message))


def freeze_check(
    handle: FleetHandle, freezes: Sequence[Freezes], at: dt.datetime, window: str
) -> State | None:
    """A Cancelled state when window ``window`` is frozen at ``at``, else None."""
    status = freeze_status(handle, freezes, at)
    return refused(f"window {window}", status) if status.frozen else None
