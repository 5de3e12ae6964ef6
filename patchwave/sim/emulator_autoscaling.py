"""The AWS emulator's answers for Auto Scaling (the drain of issue 16), from the simulated
fleet's Auto Scaling groups (``patchwave/sim/drain.py``).

A mixin of the emulator; handlers run after botocore validated the request (so EnterStandby
with more than 20 ids never reaches here unvalidated). Faithful where it could be kinder:
DescribeAutoScalingInstances ignores ids that are not members; EnterStandby and ExitStandby
refuse the whole request (ValidationError) for one instance in the wrong state, outside the
group, or a group that would drop below its minimum size.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from patchwave.sim.drain import ServiceRefused
from patchwave.sim.fleet import SimulatedFleet

PAGE = 50


class AutoScalingEmulation:
    sim: SimulatedFleet

    def _now(self) -> dt.datetime:  # provided by the emulator
        raise NotImplementedError

    def _DescribeAutoScalingInstances(self, params: dict[str, Any]) -> dict[str, Any]:
        now = self._now()
        services = self.sim.services
        ids = params.get("InstanceIds") or sorted(services.members)
        items = []
        for iid in ids:
            found = services.lifecycle(iid, now)
            if found is None:
                continue
            group, state = found
            items.append(
                {
                    "InstanceId": iid,
                    "AutoScalingGroupName": group,
                    "AvailabilityZone": "eu-west-1a",
                    "LifecycleState": state,
                    "HealthStatus": "HEALTHY",
                    "ProtectedFromScaleIn": False,
                }
            )
        start = int(params.get("NextToken") or 0)
        size = int(params.get("MaxRecords") or PAGE)
        answer: dict[str, Any] = {"AutoScalingInstances": items[start : start + size]}
        if start + size < len(items):
            answer["NextToken"] = str(start + size)
        return answer

    def _standby(self, params: dict[str, Any], enter: bool) -> dict[str, Any]:
        from patchwave.sim.emulator import AwsError

        now = self._now()
        group, ids = params["AutoScalingGroupName"], list(params.get("InstanceIds", []))
        act = self.sim.services.enter_standby if enter else self.sim.services.exit_standby
        try:
            act(group, ids, now)
        except ServiceRefused as exc:
            raise AwsError(exc.code, exc.message) from None
        self.sim.save()
        cause = "moved to standby" if enter else "moved out of standby"
        return {
            "Activities": [
                {
                    "ActivityId": f"{group}-{iid}-{int(now.timestamp())}",
                    "AutoScalingGroupName": group,
                    "Cause": f"At {now.isoformat()} instance {iid} was {cause} in response to a user request",
                    "StartTime": now,
                    "StatusCode": "InProgress",
                }
                for iid in ids
            ]
        }

    def _EnterStandby(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._standby(params, enter=True)

    def _ExitStandby(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._standby(params, enter=False)
