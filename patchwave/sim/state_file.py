"""One writer per simulator state file: a second process is refused, clearly.

Two runs that each load the same state file and save over each other's would both install
everything and lose commands. The writer holds an exclusive ``flock`` on a lock file beside the
state file for as long as it lives; the kernel drops the lock when the process dies (even by
SIGKILL), so a run that died never blocks the next one.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from patchwave.errors import FleetUnavailable

_held: dict[Path, int] = {}  # state file -> descriptor of its lock file, in this process


def lock_path(state_file: Path) -> Path:
    return state_file.with_name(f".{state_file.name}.lock")


def claim(state_file: Path) -> None:
    """Make this process the state file's one writer, or raise FleetUnavailable naming the
    process that is."""
    key = state_file.resolve()
    if key in _held:
        return
    key.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path(key), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
        os.close(fd)
        raise FleetUnavailable(
            f"simulator state file {state_file} is in use by another process (pid {holder}); "
            "one run at a time may drive a simulated fleet"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, str(os.getpid()).encode(), 0)
    _held[key] = fd


def check_free(state_file: Path) -> None:
    """Refuse (FleetUnavailable) now, before anything runs, when another process drives it."""
    if state_file.resolve() in _held or not lock_path(state_file).exists():
        return
    claim(state_file)
    release(state_file)


def release(state_file: Path) -> None:
    """Give the state file up (tests that hand it to a child process)."""
    fd = _held.pop(state_file.resolve(), None)
    if fd is not None:
        os.close(fd)
