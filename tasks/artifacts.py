"""Artifacts are best effort: a Prefect API that fails to take one never stops a wave.

Each artifact call is retried a few times with a short backoff; a call that still fails is
logged (once, as a warning) and skipped. When the failure is the API being unreachable, further
updates are skipped outright for a cool-down (then tried again): otherwise every poll of a wave
would spend seconds of client retries on a server that is gone, and the wave would slow down
for a view nobody can see. The report files and the ledger are the record of a run; artifacts
are a view of it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

from tenacity import Retrying, stop_after_attempt, wait_exponential

from tasks.prefect_api import api_unreachable

T = TypeVar("T")
log = logging.getLogger("patchwave.artifacts")
ATTEMPTS = 3
COOL_DOWN_SECONDS = 60.0
_down_until = 0.0  # monotonic time before which an unreachable API is not tried again


def best_effort(call: Callable[..., T], *args: Any, what: str, **kwargs: Any) -> T | None:
    global _down_until
    if time.monotonic() < _down_until:
        return None
    try:
        for attempt in Retrying(
            stop=stop_after_attempt(ATTEMPTS), wait=wait_exponential(multiplier=0.2, max=2), reraise=True
        ):
            with attempt:
                return call(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - an artifact is never worth a wave
        log.warning("could not update %s in Prefect (%s: %s); the run goes on", what, type(exc).__name__, exc)
        if api_unreachable(exc):
            _down_until = time.monotonic() + COOL_DOWN_SECONDS
    return None
