"""What a benchmark run costs the machine: CPU split between orchestrator and simulator, and the
peak memory of the whole process tree (the flow process and every child, Prefect's server too).

Read from /proc, so no dependency is needed and children are seen as they are:
- ``TreeMemory`` samples the tree in a thread and keeps, per process, the highest peak the
  kernel reports (VmHWM); the tree's peak is reported as the sum of those per-process peaks,
  an upper bound that never flatters (it is at least the highest sum ever sampled);
- ``CpuMeter`` charges the time spent inside the simulator (and the request emulator in front
  of it) to the simulator, once even when simulated calls nest; the rest of the flow process's
  CPU is the orchestrator's (patchwave, the AWS adapter, boto3, the Prefect client).
"""

from __future__ import annotations

import functools
import os
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

PROC = Path("/proc")
TICKS = os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in (PROC / str(pid) / "task").glob("*"):
        try:
            found.extend(int(p) for p in (task / "children").read_text().split())
        except OSError:
            continue
    return found


def tree(pid: int) -> list[int]:
    """A process and all its descendants, alive now."""
    seen, todo = [], [pid]
    while todo:
        current = todo.pop()
        seen.append(current)
        todo.extend(children(current))
    return seen


def _status_kb(pid: int, field: str) -> int:
    try:
        for line in (PROC / str(pid) / "status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _name(pid: int) -> str:
    """The command line, shortened: enough to tell the flow process from Prefect's server."""
    try:
        words = (PROC / str(pid) / "cmdline").read_bytes().split(b"\0")
    except OSError:
        return "?"
    return " ".join(w.decode(errors="replace") for w in words[:6] if w)[:120]


def cpu_seconds(pid: int) -> float:
    """User + system CPU of one process (all its threads), 0 if it is gone."""
    try:
        fields = (PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


class TreeMemory:
    """Samples the process tree's memory every ``interval`` seconds until stopped."""

    def __init__(self, pid: int | None = None, interval: float = 0.25) -> None:
        self.pid = pid or os.getpid()
        self.interval = interval
        self.peaks_kb: dict[int, int] = {}
        self.names: dict[int, str] = {}
        self.sampled_peak_kb = 0
        self.cpu_seconds = 0.0  # the sampler's own CPU, not the orchestrator's
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="tree-memory", daemon=True)

    def sample(self) -> None:
        total = 0
        for pid in tree(self.pid):
            total += _status_kb(pid, "VmRSS")
            peak = _status_kb(pid, "VmHWM")
            if peak:
                self.peaks_kb[pid] = max(self.peaks_kb.get(pid, 0), peak)
                if pid not in self.names:
                    self.names[pid] = _name(pid)
        self.sampled_peak_kb = max(self.sampled_peak_kb, total)

    def _loop(self) -> None:
        began = time.thread_time()
        while not self._stop.wait(self.interval):
            self.sample()
        self.cpu_seconds = time.thread_time() - began

    def __enter__(self) -> TreeMemory:
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()

    @property
    def peak_mb(self) -> float:
        return max(sum(self.peaks_kb.values()), self.sampled_peak_kb) / 1024

    @property
    def processes(self) -> int:
        return len(self.peaks_kb)

    def by_process_mb(self) -> dict[str, float]:
        return {f"{pid} {self.names.get(pid, '?')}": kb / 1024 for pid, kb in self.peaks_kb.items()}


class CpuMeter:
    """Thread CPU spent inside wrapped methods, counted once per outermost call."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.calls = 0
        self._local = threading.local()
        self._lock = threading.Lock()

    def wrap(self, obj: Any, names: Iterable[str]) -> None:
        for name in names:
            setattr(obj, name, self.timed(getattr(obj, name)))

    def timed(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            if getattr(self._local, "inside", False):
                return fn(*args, **kwargs)
            self._local.inside = True
            began = time.thread_time()
            try:
                return fn(*args, **kwargs)
            finally:
                spent = time.thread_time() - began
                self._local.inside = False
                with self._lock:
                    self.seconds += spent
                    self.calls += 1

        return timed
