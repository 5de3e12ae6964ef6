"""CloudWatch calls patchwave makes: reading alarm states for the wave gate (read only).

- DescribeAlarms: cloudwatch:DescribeAlarms. AlarmNames takes at most 100 names a call, and
  without AlarmTypes only metric alarms are returned: both types are asked for, so a composite
  alarm named in windows.yaml is watched too. A name that matches no alarm is simply absent.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from patchwave.fleet import chunks

MAX_ALARM_NAMES = 100
ALARM_TYPES = ["MetricAlarm", "CompositeAlarm"]


def alarm_states(cloudwatch: Any, names: Sequence[str]) -> dict[str, str]:
    """StateValue of each named alarm that exists (all pages of each chunk of 100 names)."""
    paginator = cloudwatch.get_paginator("describe_alarms")
    found: dict[str, str] = {}
    for chunk in chunks(list(names), MAX_ALARM_NAMES):
        pages = paginator.paginate(
            AlarmNames=list(chunk), AlarmTypes=ALARM_TYPES, PaginationConfig={"PageSize": MAX_ALARM_NAMES}
        )
        for page in pages:
            for alarm in [*page.get("MetricAlarms", []), *page.get("CompositeAlarms", [])]:
                found[alarm["AlarmName"]] = alarm["StateValue"]
    return found
