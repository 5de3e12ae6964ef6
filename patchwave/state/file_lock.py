"""An exclusive ``flock`` on a lock file, held by one process for as long as it lives: the
kernel drops it when the process dies (even by SIGKILL), so a dead holder never blocks the next.
The simulator's state file and the run ledger each keep one writer with it."""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Callable
from pathlib import Path


def take(lock_file: Path) -> int | str:
    """Lock ``lock_file`` for this process (its pid written in it): the descriptor to keep, or,
    when another process holds it, that process's pid as text."""
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
        os.close(fd)
        return holder
    os.ftruncate(fd, 0)
    os.pwrite(fd, str(os.getpid()).encode(), 0)
    return fd


class Held:
    """The lock files this process holds, by the path each guards (taken once per process)."""

    def __init__(self) -> None:
        self._fds: dict[Path, int] = {}
        self._lock = threading.Lock()

    def __contains__(self, key: Path) -> bool:
        return key in self._fds

    def paths(self) -> list[Path]:
        return list(self._fds)

    def claim(self, key: Path, lock_file: Path, refused: Callable[[str], Exception]) -> None:
        """Hold ``lock_file`` for ``key``, or raise ``refused(holder pid)``."""
        with self._lock:
            if key in self._fds:
                return
            fd = take(lock_file)
            if isinstance(fd, str):
                raise refused(fd)
            self._fds[key] = fd

    def release(self, key: Path) -> None:
        with self._lock:
            fd = self._fds.pop(key, None)
        if fd is not None:
            os.close(fd)
