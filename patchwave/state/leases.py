"""No two runs operate on one instance at once: leases on instances, taken before any start.

A run takes the lease of each instance before it starts anything on it and gives it back when
the instance has its outcome. An instance another run holds waits (up to the window's
``overlap_wait_minutes``), then is reported not_attempted with the holder's run id. Leases
expire (a run that died does not block the fleet forever).

``Leases`` is the port; ``MemoryLeases`` serves runs in one process, ``SqliteLeases``
(``patchwave.state.sqlite_leases``) runs in several processes on one machine.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Sequence
from typing import Protocol


class Leases(Protocol):
    def acquire(
        self, run_id: str, instance_ids: Sequence[str], now: dt.datetime, until: dt.datetime
    ) -> dict[str, str]:
        """Take what is free (or already ours, or expired); returns the others' holders."""
        ...

    def release(self, run_id: str, instance_ids: Sequence[str]) -> None: ...

    def holders(self, instance_ids: Sequence[str], now: dt.datetime) -> dict[str, str]:
        """Who holds each of these instances now (unexpired leases only)."""
        ...


class MemoryLeases:
    def __init__(self) -> None:
        self._held: dict[str, tuple[str, dt.datetime]] = {}
        self._lock = threading.Lock()

    def acquire(
        self, run_id: str, instance_ids: Sequence[str], now: dt.datetime, until: dt.datetime
    ) -> dict[str, str]:
        refused: dict[str, str] = {}
        with self._lock:
            for iid in instance_ids:
                holder = self._held.get(iid)
                if holder is not None and holder[0] != run_id and holder[1] > now:
                    refused[iid] = holder[0]
                else:
                    self._held[iid] = (run_id, until)
        return refused

    def holders(self, instance_ids: Sequence[str], now: dt.datetime) -> dict[str, str]:
        with self._lock:
            return {
                iid: self._held[iid][0]
                for iid in instance_ids
                if iid in self._held and self._held[iid][1] > now
            }

    def release(self, run_id: str, instance_ids: Sequence[str]) -> None:
        with self._lock:
            for iid in instance_ids:
                if self._held.get(iid, ("", None))[0] == run_id:
                    del self._held[iid]
