"""The AWS emulator's answers for the gates: CloudWatch DescribeAlarms and Systems Manager
GetCalendarState, from the simulated fleet's alarms and calendars (``patchwave/sim/gates.py``).

A mixin of the emulator (``self.sim`` is its SimulatedFleet); handlers run after botocore
validated the request against the service model. Faithful where it could be kinder:
- DescribeAlarms returns metric alarms only unless AlarmTypes asks for CompositeAlarm; names
  that match nothing are absent; pages of MaxRecords (default 50) with NextToken;
- GetCalendarState with several names is OPEN only when all are; a name that is not a
  calendar is InvalidDocument; AtTime is ISO 8601, NextTransitionTime is given when known.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from patchwave.sim.fleet import SimulatedFleet

DESCRIBE_ALARMS_PAGE = 50


class GatesEmulation:
    sim: SimulatedFleet

    def _now(self) -> dt.datetime:  # provided by the emulator
        raise NotImplementedError

    def _DescribeAlarms(self, params: dict[str, Any]) -> dict[str, Any]:
        now = self._now()
        types = params.get("AlarmTypes") or ["MetricAlarm"]
        specs = self.sim.spec.behaviour.alarms
        names = params.get("AlarmNames") or sorted(specs)
        states = self.sim.alarm_states_at(names, now, composite=True)
        metric, composite = [], []
        for name in names:
            if name not in states:
                continue
            item = {
                "AlarmName": name,
                "AlarmArn": f"arn:aws:cloudwatch:eu-west-1:123456789012:alarm:{name}",
                "StateValue": states[name],
                "StateUpdatedTimestamp": now,
            }
            if specs[name].composite:
                composite.append(item)
            else:
                metric.append(item)
        both = [("MetricAlarms", a) for a in metric if "MetricAlarm" in types]
        both += [("CompositeAlarms", a) for a in composite if "CompositeAlarm" in types]
        start = int(params.get("NextToken") or 0)
        size = int(params.get("MaxRecords") or DESCRIBE_ALARMS_PAGE)
        answer: dict[str, Any] = {"MetricAlarms": [], "CompositeAlarms": []}
        for key, item in both[start : start + size]:
            answer[key].append(item)
        if start + size < len(both):
            answer["NextToken"] = str(start + size)
        return answer

    def _GetCalendarState(self, params: dict[str, Any]) -> dict[str, Any]:
        from patchwave.sim.emulator import AwsError

        now = self._now()
        at = (
            dt.datetime.fromisoformat(params["AtTime"].replace("Z", "+00:00"))
            if params.get("AtTime")
            else now
        )
        calendars = self.sim.spec.behaviour.calendars
        state, transitions = "OPEN", []
        for name in params["CalendarNames"]:
            calendar = calendars.get(name.rsplit("/", 1)[-1])
            if calendar is None:
                raise AwsError("InvalidDocument", f"Document {name} does not exist or is not a calendar")
            one, next_change = calendar.state_at(at)
            state = "CLOSED" if one == "CLOSED" else state
            if next_change is not None:
                transitions.append(next_change)
        answer = {"State": state, "AtTime": at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
        if transitions:
            answer["NextTransitionTime"] = min(transitions).astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return answer
