"""How a window's outcome reads in Prefect: states with one-line messages, never a traceback.

A halted, cut-off or aborted window is an outcome patchwave decided, not a crash: its flow run
ends Failed with one line (which wave, why, the counts), and a halted wave's task run ends
Failed with its stop reason. A window that finished with errors within its thresholds ends in
a named Completed state, ``SucceededWithErrors``, so it does not read as a plain success.

Prefect's engine re-raises a Failed flow state when the run ends and logs it with a
traceback; ``WindowStopped`` marks those exceptions so that ``QuietStops`` (a logging filter
on Prefect's run and engine loggers) drops the duplicate record: the one-line message has
already been logged.
"""

from __future__ import annotations

import logging

from prefect.states import Completed, Failed, State

from patchwave.reports.render import headline
from patchwave.reports.report import STOPPED, Report
from tasks.prefect_api import api_unreachable

WITH_ERRORS = "SucceededWithErrors"


class WindowStopped(Exception):
    """A window that stopped early (halted, cut off, aborted): reported, not crashed."""


def final_state(report: Report) -> State:
    """Failed for a stopped window, SucceededWithErrors for errors within thresholds."""
    message = headline(report)
    if report.status in STOPPED:
        return Failed(message=message, data=WindowStopped(message))
    if report.status == "succeeded_with_errors":
        return Completed(name=WITH_ERRORS, message=message)
    return Completed(message=message)


_ENGINE_TRACEBACKS = (
    "Engine execution exited with unexpected exception",
    "exited with unexpected exception",
    "Task run failed with state",
)


class QuietStops(logging.Filter):
    """Drop Prefect's traceback records for a window patchwave stopped on purpose, and the
    'NoneType: None' pseudo-traceback Prefect adds to a task that returned a Failed state."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, WindowStopped):
            return False
        message = str(record.msg)
        if exc is not None and api_unreachable(exc):
            # Prefect's API went away: one line, the window goes on (see flows.offline)
            record.msg = f"{message.split(':')[0]}: Prefect's API is unreachable ({type(exc).__name__})"
            record.args = ()
            record.exc_info = None
            record.exc_text = None
            return True
        if record.name.startswith("prefect._internal") and len(record.getMessage()) > 300:
            record.msg = record.getMessage()[:200] + " ..."  # an event's repr runs to pages
            record.args = ()
            record.exc_info = None
            record.exc_text = None
        if record.exc_info and exc is None and message.startswith(_ENGINE_TRACEBACKS):
            record.exc_info = None
            record.exc_text = None
        return True


def install_quiet_stops() -> None:
    for name in (
        "prefect.flow_runs",
        "prefect.task_runs",
        "prefect.engine",
        "prefect.flow_engine",
        "prefect._internal.concurrency",
        "prefect.events.clients",
    ):
        logger = logging.getLogger(name)
        if not any(isinstance(f, QuietStops) for f in logger.filters):
            logger.addFilter(QuietStops())
