"""Gates as config vocabulary: the CloudWatch alarms a wave watches, and freezes (blackout
dates and Change Calendars) during which a window does not start.

Kept apart from ``windows.py`` so the shape of a gate is read in one place; ``Window``,
``Wave`` and ``WindowsFile`` only hold these fields.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from typing import Any

from pydantic import Field, field_validator, model_validator

from patchwave.config.baselines import Strict

# CloudWatch AlarmName: 1-255 characters; SSM's Alarm.Name also refuses blank ones. Control
# characters never belong in a name an operator types.
ALARM_NAME = re.compile(r"^(?!\s*$)[^\x00-\x1f\x7f]{1,255}$")
# A Change Calendar is an SSM document: its name (3-128 of [a-zA-Z0-9_.-]) or its ARN.
CALENDAR = re.compile(r"^(arn:aws[a-z-]*:ssm:[a-z0-9-]+:\d{12}:document/)?[a-zA-Z0-9_.\-]{3,128}$")


def check_timezone(timezone: str) -> str:
    """An IANA time zone (schedules and blackouts are read in one)."""
    try:
        zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError("not an IANA time zone") from exc
    return timezone


def check_alarm_names(names: list[str]) -> list[str]:
    """Alarm names as CloudWatch and SendCommand's AlarmConfiguration accept them, once each."""
    seen: set[str] = set()
    for name in names:
        if not ALARM_NAME.match(name):
            raise ValueError(f"{name!r} is not a CloudWatch alarm name (1 to 255 characters, not blank)")
        if name in seen:
            raise ValueError(f"alarm {name!r} is listed twice")
        seen.add(name)
    return names


def _moment(value: Any, end: bool) -> Any:
    """A date means the whole day: a start at its midnight, an end at the next midnight."""
    if isinstance(value, str) and len(value.strip()) == 10:
        try:
            value = dt.date.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"{value!r} is not a date (YYYY-MM-DD) or a time (YYYY-MM-DDTHH:MM)") from None
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return dt.datetime.combine(value + dt.timedelta(days=1 if end else 0), dt.time())
    if isinstance(value, str):
        try:
            return dt.datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"{value!r} is not a date (YYYY-MM-DD) or a time (YYYY-MM-DDTHH:MM)") from None
    return value


class Blackout(Strict):
    """A period during which windows do not start: dates (whole days) or times, read in
    ``timezone``. An end given as a date includes that whole day."""

    start: dt.datetime = Field(description="First day (YYYY-MM-DD) or moment (YYYY-MM-DDTHH:MM).")
    end: dt.datetime = Field(description="Last day (included) or the moment the freeze ends.")
    timezone: str = Field(default="UTC", description="IANA time zone the dates are read in.")
    reason: str = Field(default="", max_length=200, description="Shown when a run is refused.")

    @field_validator("start", mode="before")
    @classmethod
    def _start(cls, value: Any) -> Any:
        return _moment(value, end=False)

    @field_validator("end", mode="before")
    @classmethod
    def _end(cls, value: Any) -> Any:
        return _moment(value, end=True)

    @field_validator("start", "end")
    @classmethod
    def _naive(cls, value: dt.datetime) -> dt.datetime:
        if value.tzinfo is not None:
            raise ValueError(f"{value.isoformat()} carries an offset: give the time zone in 'timezone'")
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, timezone: str) -> str:
        return check_timezone(timezone)

    @model_validator(mode="after")
    def _ordered(self) -> Blackout:
        if self.end <= self.start:
            raise ValueError(f"end {self.end.isoformat()} is not after start {self.start.isoformat()}")
        return self

    def interval(self) -> tuple[dt.datetime, dt.datetime]:
        """The blackout in UTC."""
        zone = zoneinfo.ZoneInfo(self.timezone)
        return (
            self.start.replace(tzinfo=zone).astimezone(dt.UTC),
            self.end.replace(tzinfo=zone).astimezone(dt.UTC),
        )


class Freezes(Strict):
    """When windows must not start: blackout dates, and Systems Manager Change Calendars (a
    calendar that reads CLOSED at the planned start freezes the window)."""

    blackouts: list[Blackout] = Field(default_factory=list)
    change_calendars: list[str] = Field(
        default_factory=list, description="Change Calendar document names or ARNs (GetCalendarState)."
    )

    @field_validator("change_calendars")
    @classmethod
    def _calendars(cls, names: list[str]) -> list[str]:
        for name in names:
            if not CALENDAR.match(name):
                raise ValueError(f"{name!r} is not a Change Calendar document name or ARN")
        if len(set(names)) != len(names):
            raise ValueError("a Change Calendar is listed twice")
        return names

    def __bool__(self) -> bool:
        return bool(self.blackouts or self.change_calendars)
