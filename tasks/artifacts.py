"""Artifacts are best effort: a Prefect API that fails to take one never stops a wave.

Each artifact call is retried a few times with a short backoff; a call that still fails is
logged (once, as a warning) and skipped. The report files and the ledger are the record of a
run; artifacts are a view of it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from tenacity import Retrying, stop_after_attempt, wait_exponential

T = TypeVar("T")
log = logging.getLogger("patchwave.artifacts")
ATTEMPTS = 3


def best_effort(call: Callable[..., T], *args: Any, what: str, **kwargs: Any) -> T | None:
    try:
        for attempt in Retrying(
            stop=stop_after_attempt(ATTEMPTS), wait=wait_exponential(multiplier=0.2, max=2), reraise=True
        ):
            with attempt:
                return call(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - an artifact is never worth a wave
        log.warning("could not update %s in Prefect (%s: %s); the run goes on", what, type(exc).__name__, exc)
    return None
