"""The simulated fleet's load balancers and Auto Scaling groups (fleet-spec knobs and state),
for the drain of issue 16.

Modelled on what a real account does, not on what patchwave assumes:
- a deregistered target keeps serving its open connections for the group's deregistration
  delay (state ``draining``, reason Target.DeregistrationInProgress), then leaves the listing;
  described by name after that it reads ``unused`` / Target.NotRegistered;
- DeregisterTargets without the port a target was registered on (a port override) answers 200
  and does nothing; deregistering a target that is not registered does nothing either;
- a registered target reads ``initial`` (Elb.RegistrationInProgress) until its health checks
  pass (``healthy_after_seconds``), then ``healthy``; ``unhealthy`` (Target.FailedHealthChecks)
  while the instance is down or for ``never_healthy_ids``; RegisterTargets refuses a terminated
  instance (InvalidTarget);
- EnterStandby refuses the whole request (ValidationError) when one instance is not InService,
  not in the group, or the group would drop below its minimum size; ShouldDecrementDesiredCapacity
  lowers the desired capacity; standby deregisters the instance from the group's attached target
  groups and ExitStandby registers it again (Pending, then InService).

Every change is kept with its time, so tests judge safety from this evidence: when each
instance was serving (registered or draining) and when it was InService.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from typing import Literal

from pydantic import Field, field_validator

from patchwave.config.baselines import Strict
from patchwave.config.windows import check_instance_ids

ARN_PREFIX = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/"
GROUP_NAME = r"^[A-Za-z0-9-]{1,32}$"
PENDING = dt.timedelta(seconds=30)  # ExitStandby: Pending, then InService


class SimTargetGroup(Strict):
    """One ELB target group of instances: who is registered at the start, and its behaviour."""

    deregistration_delay_seconds: int = Field(default=300, ge=0, le=3600)
    port: int = Field(default=80, ge=1, le=65535)
    instance_ids: list[str] = Field(default_factory=list)
    fleet_groups: list[str] = Field(default_factory=list, description="Every instance of these spec groups.")
    port_overrides: dict[str, int] = Field(
        default_factory=dict, description="Instances registered on another port than the group's."
    )
    healthy_after_seconds: float = Field(default=30, ge=0, le=3600, description="Health checks to pass.")
    never_healthy_ids: list[str] = Field(default_factory=list, description="Unhealthy once re-registered.")

    @field_validator("instance_ids", "never_healthy_ids")
    @classmethod
    def _ids(cls, ids: list[str]) -> list[str]:
        return check_instance_ids(ids)


class SimAutoScalingGroup(Strict):
    instance_ids: list[str] = Field(default_factory=list)
    fleet_groups: list[str] = Field(default_factory=list)
    min_size: int = Field(default=0, ge=0)
    target_groups: list[str] = Field(default_factory=list, description="Attached target groups (names).")

    @field_validator("instance_ids")
    @classmethod
    def _ids(cls, ids: list[str]) -> list[str]:
        return check_instance_ids(ids)


class DrainBehaviour(Strict):
    target_groups: dict[str, SimTargetGroup] = Field(default_factory=dict)
    auto_scaling_groups: dict[str, SimAutoScalingGroup] = Field(default_factory=dict)

    @field_validator("target_groups", "auto_scaling_groups")
    @classmethod
    def _names(cls, groups: dict[str, object]) -> dict[str, object]:
        import re

        for name in groups:
            if not re.match(GROUP_NAME, name):
                raise ValueError(f"{name!r} is not a valid group name (letters, digits, hyphens; 32 at most)")
        return groups


class SimHookFault(Strict):
    """Hooks that fail (exit non-zero) or hang on chosen instances; ``match`` narrows it to
    the hooks whose document name or parameters contain that text (empty: every hook)."""

    instance_ids: list[str]
    effect: Literal["fail", "hang"]
    match: str = ""

    @field_validator("instance_ids")
    @classmethod
    def _ids(cls, ids: list[str]) -> list[str]:
        return check_instance_ids(ids)


class HookBehaviour(Strict):
    run_seconds: float = Field(default=20, ge=0, le=3600, description="How long a hook runs.")
    faults: list[SimHookFault] = Field(default_factory=list)


def arn_of(name: str) -> str:
    return f"{ARN_PREFIX}{name}/{hashlib.sha256(name.encode()).hexdigest()[:16]}"


def name_of(arn: str) -> str:
    return arn.removeprefix(ARN_PREFIX).split("/", 1)[0]


class ServiceRefused(Exception):
    """A request the service refuses whole: (code, message)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclass
class SimTarget:
    instance_id: str
    port: int
    registered_at: dt.datetime
    deregistered_at: dt.datetime | None = None
    delay: dt.timedelta = dt.timedelta(0)

    def listed_at(self, now: dt.datetime) -> bool:
        return self.deregistered_at is None or now < self.deregistered_at + self.delay


@dataclass
class SimMember:
    group: str
    history: list[tuple[dt.datetime, str]] = field(default_factory=list)  # (since, state)

    def state_at(self, now: dt.datetime) -> str:
        state = "InService"
        for since, value in self.history:
            if since <= now:
                state = value
        return state


class SimServices:
    """Target groups and Auto Scaling groups as they stand, with their history."""

    def __init__(
        self, behaviour: DrainBehaviour, spec_groups: dict[str, list[str]], start: dt.datetime
    ) -> None:
        self.behaviour = behaviour
        self.targets: dict[str, list[SimTarget]] = {}  # group name -> registrations, in order
        before = self.origin = start - dt.timedelta(days=1)
        for name, tg in behaviour.target_groups.items():
            members = [*tg.instance_ids, *(i for g in tg.fleet_groups for i in spec_groups.get(g, []))]
            self.targets[name] = [
                SimTarget(iid, tg.port_overrides.get(iid, tg.port), before) for iid in dict.fromkeys(members)
            ]
        self.members: dict[str, SimMember] = {}
        self.desired: dict[str, int] = {}
        for name, asg in behaviour.auto_scaling_groups.items():
            members = [*asg.instance_ids, *(i for g in asg.fleet_groups for i in spec_groups.get(g, []))]
            for iid in dict.fromkeys(members):
                self.members[iid] = SimMember(name, [(before, "InService")])
            self.desired[name] = len(set(members))

    # ----------------------------------------------------------------- target groups
    def current(self, group: str, instance_id: str, now: dt.datetime) -> SimTarget | None:
        """The registration of an instance still listed in a group (registered or draining)."""
        for target in reversed(self.targets.get(group, [])):
            if target.instance_id == instance_id and target.registered_at <= now and target.listed_at(now):
                return target
        return None

    def health(self, group: str, target: SimTarget, now: dt.datetime, down: bool) -> tuple[str, str]:
        tg = self.behaviour.target_groups[group]
        if target.deregistered_at is not None:
            return "draining", "Target.DeregistrationInProgress"
        if now < target.registered_at + dt.timedelta(seconds=tg.healthy_after_seconds):
            return "initial", "Elb.RegistrationInProgress"
        if down or (target.instance_id in tg.never_healthy_ids and target.registered_at > self.origin):
            return "unhealthy", "Target.FailedHealthChecks"
        return "healthy", ""

    def listed(self, group: str, now: dt.datetime) -> list[SimTarget]:
        seen: dict[tuple[str, int], SimTarget] = {}
        for target in self.targets.get(group, []):
            if target.registered_at <= now and target.listed_at(now):
                seen[(target.instance_id, target.port)] = target
        return list(seen.values())

    def deregister(self, group: str, targets: list[tuple[str, int | None]], now: dt.datetime) -> None:
        tg = self.behaviour.target_groups[group]
        for iid, port in targets:
            wanted = tg.port if port is None else port
            found = self.current(group, iid, now)
            if found is None or found.deregistered_at is not None or found.port != wanted:
                continue  # not registered (on that port): 200, nothing done
            found.deregistered_at = now
            found.delay = dt.timedelta(seconds=tg.deregistration_delay_seconds)

    def register(self, group: str, targets: list[tuple[str, int | None]], now: dt.datetime) -> None:
        tg = self.behaviour.target_groups[group]
        for iid, port in targets:
            found = self.current(group, iid, now)
            if found is not None and found.deregistered_at is None:
                continue  # already registered
            self.targets[group].append(SimTarget(iid, tg.port if port is None else port, now))

    def serving(self, instance_id: str) -> list[tuple[str, dt.datetime, dt.datetime | None]]:
        """(group, from, until) of every time the instance took traffic (registered or draining)."""
        found = []
        for group, targets in self.targets.items():
            for target in targets:
                if target.instance_id == instance_id:
                    until = None if target.deregistered_at is None else target.deregistered_at + target.delay
                    found.append((group, target.registered_at, until))
        return found

    # ----------------------------------------------------------------- auto scaling
    def lifecycle(self, instance_id: str, now: dt.datetime) -> tuple[str, str] | None:
        member = self.members.get(instance_id)
        return None if member is None else (member.group, member.state_at(now))

    def enter_standby(self, group: str, instance_ids: list[str], now: dt.datetime) -> None:
        asg = self.behaviour.auto_scaling_groups.get(group)
        if asg is None:
            raise ServiceRefused("ValidationError", f"AutoScalingGroup name not found - {group}")
        for iid in instance_ids:
            member = self.members.get(iid)
            if member is None or member.group != group:
                raise ServiceRefused(
                    "ValidationError", f"The instance {iid} is not part of Auto Scaling group {group}."
                )
            if member.state_at(now) != "InService":
                raise ServiceRefused("ValidationError", f"The instance {iid} is not in InService.")
        if self.desired[group] - len(instance_ids) < asg.min_size:
            raise ServiceRefused(
                "ValidationError",
                f"Cannot move instances into standby: the group {group} would drop below its minimum size "
                f"of {asg.min_size}.",
            )
        self.desired[group] -= len(instance_ids)
        for iid in instance_ids:
            self.members[iid].history.append((now, "Standby"))
            for attached in asg.target_groups:
                self.deregister(attached, [(iid, None)], now)

    def exit_standby(self, group: str, instance_ids: list[str], now: dt.datetime) -> None:
        asg = self.behaviour.auto_scaling_groups.get(group)
        if asg is None:
            raise ServiceRefused("ValidationError", f"AutoScalingGroup name not found - {group}")
        for iid in instance_ids:
            member = self.members.get(iid)
            if member is None or member.group != group or member.state_at(now) != "Standby":
                raise ServiceRefused("ValidationError", f"The instance {iid} is not in Standby.")
        self.desired[group] += len(instance_ids)
        for iid in instance_ids:
            self.members[iid].history.extend([(now, "Pending"), (now + PENDING, "InService")])
            for attached in asg.target_groups:
                self.register(attached, [(iid, None)], now)

    def in_service(self, instance_id: str) -> list[tuple[dt.datetime, dt.datetime | None]]:
        """(from, until) of every time the instance was InService (or Pending into it)."""
        member = self.members.get(instance_id)
        if member is None:
            return []
        spans: list[tuple[dt.datetime, dt.datetime | None]] = []
        opened: dt.datetime | None = None
        for since, state in member.history:
            serving = state in ("InService", "Pending")
            if serving and opened is None:
                opened = since
            elif not serving and opened is not None:
                spans.append((opened, since))
                opened = None
        if opened is not None:
            spans.append((opened, None))
        return spans
