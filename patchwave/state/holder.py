"""Who holds a run: one token per process, so that two processes of the same run id (a
``--resume`` started while the original still runs) are told apart.

A run id alone cannot tell them apart: a resume uses the original's id on purpose, so that it
owns the original's leases and ledger. The token (host, pid, a random nonce) is made once per
process (again after a fork), and every claim on a run carries it.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import socket
from dataclasses import dataclass

from patchwave.errors import PatchwaveError

_token: tuple[int, str] | None = None


def holder_token() -> str:
    """This process's holder token: ``host:pid:nonce``, the same for the process's life."""
    global _token
    if _token is None or _token[0] != os.getpid():
        host = socket.gethostname().replace(":", "_")[:60] or "host"
        _token = (os.getpid(), f"{host}:{os.getpid()}:{secrets.token_hex(6)}")
    return _token[1]


def wall_now() -> dt.datetime:
    """Liveness is a matter of real time, whatever clock the fleet runs on."""
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class RunHolder:
    """The process holding a run, and when it last showed it was alive (wall clock)."""

    run_id: str
    holder: str
    heartbeat: dt.datetime

    def live(self, now: dt.datetime, stale_after: dt.timedelta) -> bool:
        return now - self.heartbeat < stale_after


def held_elsewhere(held: RunHolder | None, stale_after: dt.timedelta) -> bool:
    """The run is claimed by another process whose heartbeat is fresh."""
    return held is not None and held.holder != holder_token() and held.live(wall_now(), stale_after)


class RunInUse(PatchwaveError):
    """Another live process holds this run: starting it here would do its work twice."""

    def __init__(self, held: RunHolder, now: dt.datetime, stale_after: dt.timedelta) -> None:
        age = int((now - held.heartbeat).total_seconds())
        super().__init__(
            f"run {held.run_id} is held by a live process ({held.holder}, heartbeat {age} s ago); "
            f"resume it once that process has ended and its heartbeat is older than "
            f"{stale_after.total_seconds() / 60:g} min, or free it with "
            f"'patchwave leases release --run {held.run_id}' if it is dead"
        )
