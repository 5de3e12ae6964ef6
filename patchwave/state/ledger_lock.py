"""One writing process per file ledger: an exclusive ``flock`` on a lock file beside it.

Two processes appending to one run's ledger (a resume started while the original still runs)
would each read the other's lines half-way and both start work; the run claim
(``patchwave.state.run_claim``) refuses the second one first, and this lock makes sure of it
on the ledger itself. The kernel drops the lock when its process dies (SIGKILL too), so a dead
run never blocks its resume; within a process, the flow and its tasks share it.
"""

from __future__ import annotations

from pathlib import Path

from patchwave.errors import PatchwaveError
from patchwave.state import file_lock

_held = file_lock.Held()  # ledgers this process writes


class LedgerInUse(PatchwaveError):
    """Another process is writing this ledger."""


def lock_path(ledger: Path) -> Path:
    return ledger.with_name(f".{ledger.name}.lock")


def claim(ledger: Path) -> None:
    """Make this process the ledger's one writer, or raise LedgerInUse naming the one that is."""
    key = ledger.resolve()
    _held.claim(
        key,
        lock_path(key),
        lambda pid: LedgerInUse(
            f"ledger {ledger} is being written by another process (pid {pid}); "
            "one process at a time may run a run"
        ),
    )


def release_run(run_id: str) -> None:
    """Give up this process's locks on the ledgers of a run (the run ended here)."""
    for key in [k for k in _held.paths() if k.name == f"{run_id}.jsonl"]:
        _held.release(key)
