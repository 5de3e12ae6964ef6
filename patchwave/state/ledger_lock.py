"""One writing process per file ledger: an exclusive ``flock`` on a lock file beside it.

Two processes appending to one run's ledger (a resume started while the original still runs)
would each read the other's lines half-way and both start work; the run claim
(``patchwave.state.run_claim``) refuses the second one first, and this lock makes sure of it
on the ledger itself. The kernel drops the lock when its process dies (SIGKILL too), so a dead
run never blocks its resume; within a process, the flow and its tasks share it.
"""

from __future__ import annotations

import fcntl
import os
import threading
from pathlib import Path

from patchwave.errors import PatchwaveError

_held: dict[Path, int] = {}  # ledger -> descriptor of its lock file, in this process
_lock = threading.Lock()


class LedgerInUse(PatchwaveError):
    """Another process is writing this ledger."""


def lock_path(ledger: Path) -> Path:
    return ledger.with_name(f".{ledger.name}.lock")


def claim(ledger: Path) -> None:
    """Make this process the ledger's one writer, or raise LedgerInUse naming the one that is."""
    key = ledger.resolve()
    with _lock:
        if key in _held:
            return
        key.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock_path(key), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise LedgerInUse(
                f"ledger {ledger} is being written by another process (pid {holder}); "
                "one process at a time may run a run"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        _held[key] = fd


def release_run(run_id: str) -> None:
    """Give up this process's locks on the ledgers of a run (the run ended here)."""
    with _lock:
        for key in [k for k in _held if k.name == f"{run_id}.jsonl"]:
            os.close(_held.pop(key))
