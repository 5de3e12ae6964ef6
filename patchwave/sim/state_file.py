"""One writer per simulator state file: a second process is refused, clearly.

Two runs that each load the same state file and save over each other's would both install
everything and lose commands. The writer holds an exclusive ``flock`` on a lock file beside the
state file for as long as it lives; the kernel drops the lock when the process dies (even by
SIGKILL), so a run that died never blocks the next one.
"""

from __future__ import annotations

from pathlib import Path

from patchwave.errors import FleetUnavailable
from patchwave.state import file_lock

_held = file_lock.Held()  # state files this process drives


def lock_path(state_file: Path) -> Path:
    return state_file.with_name(f".{state_file.name}.lock")


def claim(state_file: Path) -> None:
    """Make this process the state file's one writer, or raise FleetUnavailable naming the
    process that is."""
    key = state_file.resolve()
    _held.claim(
        key,
        lock_path(key),
        lambda pid: FleetUnavailable(
            f"simulator state file {state_file} is in use by another process (pid {pid}); "
            "one run at a time may drive a simulated fleet"
        ),
    )


def check_free(state_file: Path) -> None:
    """Refuse (FleetUnavailable) now, before anything runs, when another process drives it."""
    if state_file.resolve() in _held or not lock_path(state_file).exists():
        return
    claim(state_file)
    release(state_file)


def release(state_file: Path) -> None:
    """Give the state file up (tests that hand it to a child process)."""
    _held.release(state_file.resolve())
