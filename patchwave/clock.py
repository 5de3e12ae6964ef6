"""Time, injected: every wait in patchwave goes through a Clock.

Real runs use wall time. The simulator uses a virtual clock (sleep advances time at once, so
a 10,000-instance window takes seconds) or a scaled clock (the demo: an hour of patching in a
few seconds, slow enough to watch). Nothing calls ``time.sleep`` directly.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> dt.datetime:
        """The current time, timezone-aware UTC."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait; a simulated clock may only pretend to."""
        ...


class WallClock:
    """Real time, for real fleets."""

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


class VirtualClock:
    """Simulated time that moves only when someone sleeps; thread-safe."""

    def __init__(self, start: dt.datetime) -> None:
        self._now = start.astimezone(dt.UTC)
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, object]:
        return {"_now": self._now}

    def __setstate__(self, state: dict[str, object]) -> None:
        self._now = state["_now"]  # type: ignore[assignment]
        self._lock = threading.Lock()

    def now(self) -> dt.datetime:
        with self._lock:
            return self._now

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            with self._lock:
                self._now += dt.timedelta(seconds=seconds)


class ScaledClock:
    """Simulated time running ``speed`` times faster than the wall: the demo's clock. Anchored
    on the wall clock (not a process's monotonic one), so a saved simulation keeps its time
    when another process picks it up."""

    def __init__(self, start: dt.datetime, speed: float) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self._start = start.astimezone(dt.UTC)
        self._wall_start = time.time()
        self._speed = speed

    def now(self) -> dt.datetime:
        elapsed = max(0.0, time.time() - self._wall_start) * self._speed
        return self._start + dt.timedelta(seconds=elapsed)

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds / self._speed)
