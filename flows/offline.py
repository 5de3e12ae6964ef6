"""Prefect outages are survivable: a window goes on when Prefect's API goes away.

Prefect records every task run through its API; once the server is gone, calling a task
raises after the client's own retries. The wave in flight has its own guard (its progress
artifact is best effort, see ``tasks.artifacts``) and keeps its result aside before Prefect
records it, so a failure to record it loses nothing. From then on the window calls its
tasks' plain functions: it finishes, and its report is written locally (the ledger records
every start, as always).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from prefect.utilities.annotations import BaseAnnotation

from tasks.prefect_api import api_unreachable

T = TypeVar("T")
log = logging.getLogger("patchwave.offline")


class Orchestration:
    """Calls tasks through Prefect while its API answers, their functions after it stops."""

    def __init__(self, logger: Any) -> None:
        self.logger = logger
        self.offline = False

    def call(self, task: Any, *args: Any, _already: Callable[[], Any] | None = None, **kwargs: Any) -> Any:
        """Run a task; if Prefect's API is unreachable, go on without it. ``_already`` gives
        the result the task computed before Prefect failed to record it (never run twice)."""
        if not self.offline:
            try:
                return task(*args, **kwargs)
            except Exception as exc:
                if not api_unreachable(exc):
                    raise
                self.offline = True
                message = (
                    "Prefect's API is unreachable (%s): the window goes on without it; "
                    "the report is written locally"
                )
                self.logger.warning(message, type(exc).__name__)
                log.warning(message, type(exc).__name__)
        done = _already() if _already is not None else None
        if done is not None:
            return done
        kwargs.pop("return_state", None)
        return task.fn(*[_plain(a) for a in args], **{k: _plain(v) for k, v in kwargs.items()})


def _plain(value: Any) -> Any:
    """What Prefect would pass the task: the value inside ``opaque``/``quote``."""
    return value.unwrap() if isinstance(value, BaseAnnotation) else value
