"""The history store port: the three things patchwave asks of a history database.

The flows and the CLI see only this protocol; ``sqlstore.SqlHistoryStore`` implements it with
SQLAlchemy (SQLite or PostgreSQL). Recording is idempotent per run id, so a resumed or retried
run replaces what it recorded before instead of counting twice.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Protocol

from patchwave.history.records import RunRecord
from patchwave.window.rollout import RolloutState


class HistoryStore(Protocol):
    def record(self, run: RunRecord) -> None:
        """Store a run, replacing any earlier record of the same run id (one transaction)."""
        ...

    def runs(self, since: dt.datetime | None = None) -> list[RunRecord]:
        """Every run started at or after ``since``, oldest first, with its observations."""
        ...

    def purge(self, before: dt.datetime) -> int:
        """Forget runs started before ``before`` (retention); returns how many."""
        ...

    def close(self) -> None: ...

    # -- rollouts (patchwave/history/rollouts.py): their durable state
    def save_rollout(self, state: RolloutState) -> None:
        """Store a rollout's whole state, replacing the earlier one (one transaction)."""
        ...

    def rollout(self, name: str) -> RolloutState | None:
        """A rollout's state, or None when it never started."""
        ...

    def update_rollout(
        self, name: str, change: Callable[[RolloutState], RolloutState]
    ) -> RolloutState | None:
        """Read, change and write a rollout's state in one transaction (None: no such rollout)."""
        ...
