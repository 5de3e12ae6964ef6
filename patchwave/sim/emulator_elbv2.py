"""The AWS emulator's answers for Elastic Load Balancing v2 (the drain of issue 16), from the
simulated fleet's target groups (``patchwave/sim/drain.py``).

A mixin of the emulator (``self.sim`` is its SimulatedFleet); handlers run after botocore
validated the request against the service model. Faithful where it could be kinder: a target
deregistered keeps being listed ``draining`` for the group's delay; described by name after
that it reads ``unused`` (Target.NotRegistered); DeregisterTargets without the port a target
was registered on does nothing; RegisterTargets refuses a terminated instance (InvalidTarget);
an unknown group is TargetGroupNotFound. ``TARGET_GROUP`` (the one the emulated adapter's
health check reads) still answers every managed EC2 instance's simulated health.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from patchwave.fleet import TargetRegistration
from patchwave.sim.drain import ServiceRefused, arn_of, name_of
from patchwave.sim.fleet import SimulatedFleet

TARGET_GROUP = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/emulated/0123456789abcdef"
PAGE = 400


def _error(code: str, message: str) -> Exception:
    from patchwave.sim.emulator import AwsError

    return AwsError(code, message)


class Elbv2Emulation:
    sim: SimulatedFleet

    def _now(self) -> dt.datetime:  # provided by the emulator
        raise NotImplementedError

    def _group(self, arn: str) -> str:
        name = name_of(arn)
        if arn_of(name) != arn or name not in self.sim.services.behaviour.target_groups:
            raise _error("TargetGroupNotFound", f"One or more target groups not found: {arn}")
        return name

    def _DescribeTargetGroups(self, params: dict[str, Any]) -> dict[str, Any]:
        groups = self.sim.services.behaviour.target_groups
        names = sorted(groups)
        if params.get("TargetGroupArns"):
            names = [self._group(a) for a in params["TargetGroupArns"]]
        if params.get("Names"):
            names = [n for n in params["Names"] if n in groups]
        start = int(params.get("Marker") or 0)
        size = int(params.get("PageSize") or PAGE)
        items = [
            {
                "TargetGroupArn": arn_of(n),
                "TargetGroupName": n,
                "TargetType": "instance",
                "Protocol": "HTTP",
                "Port": groups[n].port,
            }
            for n in names[start : start + size]
        ]
        answer: dict[str, Any] = {"TargetGroups": items}
        if start + size < len(names):
            answer["NextMarker"] = str(start + size)
        return answer

    def _DescribeTargetGroupAttributes(self, params: dict[str, Any]) -> dict[str, Any]:
        tg = self.sim.services.behaviour.target_groups[self._group(params["TargetGroupArn"])]
        return {
            "Attributes": [
                {
                    "Key": "deregistration_delay.timeout_seconds",
                    "Value": str(tg.deregistration_delay_seconds),
                },
                {"Key": "stickiness.enabled", "Value": "false"},
            ]
        }

    def _DescribeTargetHealth(self, params: dict[str, Any]) -> dict[str, Any]:
        now = self._now()
        arn = params["TargetGroupArn"]
        if arn == TARGET_GROUP:
            return self._emulated_health(now)
        name = self._group(arn)
        if params.get("Targets"):
            wanted = [TargetRegistration(arn, t["Id"], t.get("Port")) for t in params["Targets"]]
        else:
            wanted = [
                TargetRegistration(arn, t.instance_id, t.port) for t in self.sim.services.listed(name, now)
            ]
        states = self.sim.health_at(wanted, now)
        port = self.sim.services.behaviour.target_groups[name].port
        return {
            "TargetHealthDescriptions": [
                {
                    "Target": {"Id": t.instance_id, "Port": t.port if t.port is not None else port},
                    "TargetHealth": {"State": state, **({"Reason": reason} if reason else {})},
                }
                for t, (state, reason) in states.items()
            ]
        }

    def _emulated_health(self, now: dt.datetime) -> dict[str, Any]:
        ids = [i.instance_id for i in self.sim.managed(now) if i.instance_id.startswith("i-")]
        health = self.sim.health_of(ids)
        return {
            "TargetHealthDescriptions": [
                {
                    "Target": {"Id": iid, "Port": 80},
                    "TargetHealth": {
                        "State": "unhealthy",
                        "Reason": "Target.ResponseCodeMismatch",
                        "Description": reason,
                    }
                    if reason
                    else {"State": "healthy"},
                }
                for iid, reason in health.items()
            ]
        }

    def _targets(self, params: dict[str, Any]) -> tuple[str, list[tuple[str, int | None]]]:
        return self._group(params["TargetGroupArn"]), [(t["Id"], t.get("Port")) for t in params["Targets"]]

    def _DeregisterTargets(self, params: dict[str, Any]) -> dict[str, Any]:
        name, targets = self._targets(params)
        self.sim.services.deregister(name, targets, self._now())
        return {}

    def _RegisterTargets(self, params: dict[str, Any]) -> dict[str, Any]:
        name, targets = self._targets(params)
        try:
            self.sim.register_now(name, targets, self._now())
        except ServiceRefused as exc:
            raise _error(exc.code, exc.message) from None
        return {}
