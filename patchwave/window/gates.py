"""Gates: what may stop a window before it starts (freezes) or a wave while it runs (alarms).

Pure decisions over the Fleet port, so the simulator and AWS answer the same questions:

- **Alarms.** A wave watches its own alarms and its window's. The runner asks before every
  start (one DescribeAlarms per look, 100 names a call): once one is in ALARM the wave halts,
  nothing new starts, what is in flight is polled to its end, and the reason names the alarm.
  An alarm that does not exist halts too (fail closed, as SSM does when it cannot read an
  alarm and IgnorePollAlarmFailure is false); INSUFFICIENT_DATA does not (nor does it for SSM).
  SendCommand's AlarmConfiguration takes exactly one alarm: the wave's first is passed, so SSM
  stops the commands it sent even between two looks.
- **Freezes.** Blackout dates (config, no call) and Change Calendars (GetCalendarState at the
  planned start; CLOSED freezes). Blackouts are read first: a run refused by one makes no call.
  A calendar that cannot be read freezes too: a freeze that cannot be proven open is closed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from patchwave.config.gates import Freezes
from patchwave.fleet import Fleet

ALARM = "ALARM"
CLOSED = "CLOSED"


def wave_alarms(window_alarms: Sequence[str], wave_alarms_: Sequence[str]) -> tuple[str, ...]:
    """A wave's own alarms first (the first one goes to AlarmConfiguration), then its window's."""
    return tuple(dict.fromkeys([*wave_alarms_, *window_alarms]))


def alarm_halt(fleet: Fleet, names: Sequence[str]) -> str | None:
    """The reason to halt a wave now, or None when every alarm it watches is quiet."""
    if not names:
        return None
    states = fleet.alarm_states(names)
    for name in names:
        state = states.get(name)
        if state is None:
            return f"alarm {name!r} does not exist (DescribeAlarms does not return it)"
        if state == ALARM:
            return f"alarm {name!r} is in ALARM"
    return None


@dataclass(frozen=True)
class FreezeStatus:
    frozen: bool
    reason: str = ""
    calendars: tuple[str, ...] = ()  # the Change Calendars read (for the plan's display)


def blackout_at(freezes: Sequence[Freezes], at: dt.datetime) -> str | None:
    """The blackout that covers ``at``, in words, or None."""
    for scope in freezes:
        for blackout in scope.blackouts:
            start, end = blackout.interval()
            if start <= at < end:
                why = f" ({blackout.reason})" if blackout.reason else ""
                return (
                    f"blackout {blackout.start.isoformat(sep=' ', timespec='minutes')} to "
                    f"{blackout.end.isoformat(sep=' ', timespec='minutes')} {blackout.timezone}{why}"
                )
    return None


def freeze_at(fleet: Fleet, freezes: Sequence[Freezes], at: dt.datetime) -> FreezeStatus:
    """Whether a window planned at ``at`` is frozen: blackouts first (no call), then the
    Change Calendars (one GetCalendarState each, at ``at``)."""
    blackout = blackout_at(freezes, at)
    if blackout is not None:
        return FreezeStatus(True, f"frozen at {_utc(at)}: {blackout}")
    names = list(dict.fromkeys(name for scope in freezes for name in scope.change_calendars))
    if not names:
        return FreezeStatus(False)
    states = fleet.calendar_states(names, at)
    for name in names:
        state = states.get(name)
        if state is None:
            return FreezeStatus(
                True, f"frozen at {_utc(at)}: Change Calendar {name!r} could not be read", tuple(names)
            )
        if state == CLOSED:
            return FreezeStatus(
                True, f"frozen at {_utc(at)}: Change Calendar {name!r} is CLOSED", tuple(names)
            )
    return FreezeStatus(False, calendars=tuple(names))


def _utc(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def planned_start(cron: str | None, timezone: str, now: dt.datetime) -> dt.datetime:
    """When a window would next start: its schedule's next slot after ``now``, else now."""
    if not cron:
        return now
    import zoneinfo

    from croniter import croniter

    local = now.astimezone(zoneinfo.ZoneInfo(timezone))
    following: dt.datetime = croniter(cron, local).get_next(dt.datetime)
    return following.astimezone(dt.UTC)


def plan_gates(
    fleet: Fleet,
    freezes: Sequence[Freezes],
    window_alarms: Sequence[str],
    waves: Sequence[tuple[str, Sequence[str]]],
    at: dt.datetime,
) -> dict[str, object]:
    """What ``patchwave plan`` shows of the gates: the freeze status at the planned start and
    the alarms each wave watches (the first is the one SendCommand carries)."""
    status = freeze_at(fleet, freezes, at)
    return {
        "planned_start": at.astimezone(dt.UTC).isoformat(),
        "frozen": status.frozen,
        "freeze_reason": status.reason,
        "change_calendars": list(status.calendars),
        "alarms": {name: list(wave_alarms(window_alarms, own)) for name, own in waves},
    }
