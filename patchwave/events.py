"""A tiny in-process event bus: how a running flow tells the CLI what it is doing.

The domain and tasks publish plain records (phase changes, scan and wave progress); the CLI
subscribes to draw progress bars, Prefect tasks to update progress artifacts. Listeners must be
quick and must not raise: a failing listener is dropped rather than allowed to break a run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Listener = Callable[[Any], None]
_listeners: list[Listener] = []


@dataclass(frozen=True)
class Phase:
    """A step of a run started: 'scan', 'plan', 'wave', 'report'."""

    name: str
    detail: str = ""


@dataclass(frozen=True)
class ScanProgress:
    done: int
    total: int


def subscribe(listener: Listener) -> Callable[[], None]:
    """Add a listener; returns the function that removes it."""
    _listeners.append(listener)

    def unsubscribe() -> None:
        if listener in _listeners:
            _listeners.remove(listener)

    return unsubscribe


def publish(event: object) -> None:
    for listener in list(_listeners):
        try:
            listener(event)
        except Exception:  # noqa: BLE001 - a display problem must never stop a patch run
            _listeners.remove(listener)


@dataclass(frozen=True)
class Finished:
    """A run produced its result: a window report or a compliance summary, and its files."""

    kind: str
    payload: Any
    paths: dict[str, str]
