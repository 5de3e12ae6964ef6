"""The bake after a ring, pure: wait on the fleet's clock, watching the ring window's alarms.

A ring that patched cleanly can still hurt the service hours later (a leak, a slow query), and
that is what the bake is for: the promotion gate fails when one of the alarms the ring's window
watches (window- and wave-level, the same names the wave gate reads) is in ALARM at any look
during the bake. An alarm that fired and cleared between two looks of a single end-of-bake check
would be missed, so the bake looks at the start and then once a minute on the fleet's clock
(virtual on the simulator: a day's bake costs no real time), never more often: 1,441
DescribeAlarms for a one-day bake, each for up to 100 names. The first alarm seen ends the bake
(the gate has failed; waiting longer decides nothing). With no alarms the bake is one sleep.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from patchwave.clock import Clock
from patchwave.config.windows import Window
from patchwave.fleet import Fleet
from patchwave.window.gates import alarm_halt, wave_alarms

BAKE_LOOK = dt.timedelta(minutes=1)


def ring_alarms(window: Window) -> tuple[str, ...]:
    """Every alarm the ring's window watches: its own and each wave's, once each."""
    names = [name for wave in window.waves for name in wave_alarms(window.alarms, wave.alarms)]
    return tuple(dict.fromkeys([*window.alarms, *names]))


def bake(fleet: Fleet, clock: Clock, alarms: Sequence[str], minutes: float) -> str:
    """Wait ``minutes``; the reason the gate fails (the first alarm seen in ALARM, or one that
    does not exist), or "" when every look found the alarms quiet."""
    end = clock.now() + dt.timedelta(minutes=minutes)
    while True:
        now = clock.now()
        if alarms:
            reason = alarm_halt(fleet, alarms)
            if reason:
                return f"{reason} during the bake ({now.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC)"
        if now >= end:
            return ""
        step = min(BAKE_LOOK, end - now) if alarms else end - now
        clock.sleep(step.total_seconds())
