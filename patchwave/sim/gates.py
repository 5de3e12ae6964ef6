"""The simulated fleet's CloudWatch alarms and Change Calendars (fleet-spec knobs).

Modelled on what a real account does, not on what patchwave assumes:
- DescribeAlarms without AlarmTypes returns metric alarms only: a composite alarm is found only
  when the request asks for CompositeAlarm (CloudWatch API reference, ``AlarmTypes``);
- an alarm that does not exist is simply absent from the answer (no error);
- a Change Calendar of type DEFAULT_OPEN is OPEN except during its events, DEFAULT_CLOSED is
  CLOSED except during its events (Change Calendar user guide); GetCalendarState answers at
  AtTime, with the next transition; a name that is not a calendar is InvalidDocument;
- SendCommand's AlarmConfiguration (one alarm): when it enters ALARM, Systems Manager stops the
  command: invocations not yet finished end Cancelled.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field, field_validator, model_validator

from patchwave.config.baselines import Strict

AlarmState = Literal["OK", "ALARM", "INSUFFICIENT_DATA"]


class SimAlarm(Strict):
    """One CloudWatch alarm: its state before, and when (minutes after the fleet's start) it
    enters ALARM and leaves it."""

    initial: AlarmState = "OK"
    fire_at_minutes: float | None = Field(default=None, ge=0, description="Enters ALARM then.")
    clear_at_minutes: float | None = Field(default=None, ge=0, description="Back to OK then.")
    composite: bool = Field(default=False, description="A composite alarm (DescribeAlarms AlarmTypes).")

    @model_validator(mode="after")
    def _ordered(self) -> SimAlarm:
        if self.clear_at_minutes is not None and (
            self.fire_at_minutes is None or self.clear_at_minutes <= self.fire_at_minutes
        ):
            raise ValueError("clear_at_minutes must come after fire_at_minutes")
        return self

    def state_at(self, minutes: float) -> str:
        fired = self.fire_at_minutes is not None and minutes >= self.fire_at_minutes
        cleared = self.clear_at_minutes is not None and minutes >= self.clear_at_minutes
        if fired and not cleared:
            return "ALARM"
        return "OK" if cleared else self.initial

    def next_alarm(self, minutes: float) -> float | None:
        """When, at or after ``minutes``, the alarm is in ALARM (None: never again)."""
        if self.state_at(minutes) == "ALARM":
            return minutes
        if self.fire_at_minutes is not None and self.fire_at_minutes > minutes:
            return self.fire_at_minutes
        return None


class CalendarEvent(Strict):
    start: dt.datetime
    end: dt.datetime

    @field_validator("start", "end")
    @classmethod
    def _aware(cls, value: dt.datetime) -> dt.datetime:
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)

    @model_validator(mode="after")
    def _ordered(self) -> CalendarEvent:
        if self.end <= self.start:
            raise ValueError(f"event end {self.end.isoformat()} is not after start {self.start.isoformat()}")
        return self


class SimCalendar(Strict):
    """A Change Calendar: its type and events (closed periods of a DEFAULT_OPEN calendar, open
    periods of a DEFAULT_CLOSED one)."""

    type: Literal["DEFAULT_OPEN", "DEFAULT_CLOSED"] = "DEFAULT_OPEN"
    events: list[CalendarEvent] = Field(default_factory=list)

    def state_at(self, at: dt.datetime) -> tuple[str, dt.datetime | None]:
        """OPEN or CLOSED at ``at``, and the next moment the state changes (if any)."""
        inside = any(e.start <= at < e.end for e in self.events)
        default_open = self.type == "DEFAULT_OPEN"
        state = "OPEN" if default_open != inside else "CLOSED"
        edges = sorted({m for e in self.events for m in (e.start, e.end) if m > at})
        for edge in edges:
            flipped = any(e.start <= edge < e.end for e in self.events) != inside
            if flipped:
                return state, edge
        return state, None
