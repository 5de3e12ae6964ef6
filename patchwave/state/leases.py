"""No two runs operate on one instance at once: leases on instances, taken before any start.

A run takes the lease of each instance before it starts anything on it and gives it back when
the instance has its outcome. An instance another run holds waits (up to the window's
``overlap_wait_minutes``), then is reported not_attempted with the holder's run id.

A lease is live while its holder is: every holder renews a heartbeat while it works (the wave
runner does so at least every ``stale_after / 3``); a holder whose heartbeat is older than
``stale_after`` (minutes, ``PATCHWAVE_LEASE_STALE_MINUTES``, default 15) is dead, and its
leases are free. A lease also ends at its ``until`` (the longest an operation can take), so a
holder that keeps beating but never finishes cannot block the fleet forever either.

A run itself is claimed too, by one process (``patchwave.state.run_claim``): the claim
carries the process's holder token (``patchwave.state.holder``) and a real-time heartbeat, so a
second process of the same run id is refused while the first lives. Instance leases record the
holder token of the process that took them (shown by ``patchwave leases list``).

``Leases`` is the port; ``MemoryLeases`` serves runs in one process, ``SqliteLeases``
(``patchwave.state.sqlite_leases``) runs in several processes on one machine.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from patchwave.state.holder import RunHolder

DEFAULT_STALE_MINUTES = 15.0


def stale_after_default() -> dt.timedelta:
    """The staleness from ``PATCHWAVE_LEASE_STALE_MINUTES`` (a positive number), else 15 min."""
    raw = os.environ.get("PATCHWAVE_LEASE_STALE_MINUTES", "")
    try:
        minutes = float(raw) if raw else DEFAULT_STALE_MINUTES
    except ValueError:
        minutes = DEFAULT_STALE_MINUTES
    if not 0 < minutes <= 24 * 60:
        minutes = DEFAULT_STALE_MINUTES
    return dt.timedelta(minutes=minutes)


@dataclass(frozen=True)
class Holder:
    """One run holding leases, as ``patchwave leases list`` shows it."""

    run_id: str
    instances: int
    heartbeat: dt.datetime
    until: dt.datetime
    holder: str = ""  # the holder token of the process that took them

    def age(self, now: dt.datetime) -> dt.timedelta:
        return now - self.heartbeat


class Leases(Protocol):
    stale_after: dt.timedelta

    def acquire(
        self, run_id: str, instance_ids: Sequence[str], now: dt.datetime, until: dt.datetime
    ) -> dict[str, str]:
        """Take what is free (or already ours, or expired, or held by a dead run); beats our
        heartbeat; returns the others' holders."""
        ...

    def heartbeat(self, run_id: str, now: dt.datetime) -> None:
        """This run is alive: its leases stay live for ``stale_after`` more."""
        ...

    def release(self, run_id: str, instance_ids: Sequence[str]) -> None: ...

    def holders(self, instance_ids: Sequence[str], now: dt.datetime) -> dict[str, str]:
        """Who holds each of these instances now (live leases only)."""
        ...

    # one process per run (patchwave.state.run_claim); ``now`` is wall-clock time here
    def claim_run(self, run_id: str, holder: str, now: dt.datetime) -> RunHolder | None:
        """Take the run for ``holder`` unless another holder's heartbeat is fresh; returns
        None when taken, else that live holder."""
        ...

    def beat_run(self, run_id: str, holder: str, now: dt.datetime) -> bool:
        """The holder is alive; False when the run is no longer its own (taken over)."""
        ...

    def release_claim(self, run_id: str, holder: str) -> None: ...

    def run_holder(self, run_id: str) -> RunHolder | None:
        """Who claims the run (alive or not), None when nobody does."""
        ...


class MemoryLeases:
    def __init__(self, stale_after: dt.timedelta | None = None) -> None:
        self.stale_after = stale_after or stale_after_default()
        self._held: dict[str, tuple[str, dt.datetime]] = {}
        self._beats: dict[str, dt.datetime] = {}
        self._runs: dict[str, RunHolder] = {}
        self._lock = threading.Lock()

    def _live(self, holder: tuple[str, dt.datetime], now: dt.datetime) -> bool:
        beat = self._beats.get(holder[0])
        return holder[1] > now and beat is not None and now - beat < self.stale_after

    def acquire(
        self, run_id: str, instance_ids: Sequence[str], now: dt.datetime, until: dt.datetime
    ) -> dict[str, str]:
        refused: dict[str, str] = {}
        with self._lock:
            self._beats[run_id] = max(now, self._beats.get(run_id, now))
            for iid in instance_ids:
                holder = self._held.get(iid)
                if holder is not None and holder[0] != run_id and self._live(holder, now):
                    refused[iid] = holder[0]
                else:
                    self._held[iid] = (run_id, until)
        return refused

    def heartbeat(self, run_id: str, now: dt.datetime) -> None:
        with self._lock:
            self._beats[run_id] = max(now, self._beats.get(run_id, now))

    def holders(self, instance_ids: Sequence[str], now: dt.datetime) -> dict[str, str]:
        with self._lock:
            return {
                iid: self._held[iid][0]
                for iid in instance_ids
                if iid in self._held and self._live(self._held[iid], now)
            }

    def release(self, run_id: str, instance_ids: Sequence[str]) -> None:
        with self._lock:
            for iid in instance_ids:
                if self._held.get(iid, ("", None))[0] == run_id:
                    del self._held[iid]

    # one process per run
    def claim_run(self, run_id: str, holder: str, now: dt.datetime) -> RunHolder | None:
        with self._lock:
            held = self._runs.get(run_id)
            if held is not None and held.holder != holder and held.live(now, self.stale_after):
                return held
            self._runs[run_id] = RunHolder(run_id, holder, now)
            return None

    def beat_run(self, run_id: str, holder: str, now: dt.datetime) -> bool:
        with self._lock:
            held = self._runs.get(run_id)
            if held is None or held.holder != holder:
                return False
            self._runs[run_id] = RunHolder(run_id, holder, max(now, held.heartbeat))
            return True

    def release_claim(self, run_id: str, holder: str) -> None:
        with self._lock:
            if run_id in self._runs and self._runs[run_id].holder == holder:
                del self._runs[run_id]

    def run_holder(self, run_id: str) -> RunHolder | None:
        with self._lock:
            return self._runs.get(run_id)
