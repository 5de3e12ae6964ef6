"""Telling a Prefect API that went away from any other failure. The flows (``flows/offline.py``,
``flows/states.py``, ``flows/approval.py``) and the tasks' best-effort artifacts
(``tasks/artifacts.py``) all decide by it whether to go on without Prefect."""

from __future__ import annotations

import httpx


def api_unreachable(exc: BaseException) -> bool:
    """A transport failure to Prefect's API anywhere in the exception's chain."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, (httpx.TransportError, ConnectionError)):
            return True
        if "Timed out while attempting to connect to ephemeral Prefect API" in str(current):
            return True
        current = current.__cause__ or current.__context__
    return False
