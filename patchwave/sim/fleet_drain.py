"""The drain-and-hooks verbs of the simulated fleet (issue 16), a mixin of ``SimulatedFleet``.

Each verb charges the calls the AWS adapter makes for it (DescribeTargetGroups 400 a page,
DescribeTargetHealth per group and 50 targets a call, DescribeAutoScalingInstances 50 ids a
call, EnterStandby/ExitStandby 20 ids a call and one more per instance of a refused request,
SendCommand per hook command), so a run costs the same on both.

A hook is an invocation like any other on its instance: it makes the instance busy, so a hook
and an install at once shows up in the fleet's ``overlaps`` (the safety evidence).
"""

from __future__ import annotations

import datetime as dt
import math
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from patchwave.fleet import HookCommand, InstancesNotFound, ServiceMembership, TargetRegistration, chunks
from patchwave.sim import draws
from patchwave.sim.drain import ServiceRefused, SimServices, arn_of, name_of
from patchwave.sim.records import EXECUTION_TIMEOUT, UNDELIVERABLE_AFTER, SimCommand, SimInvocation

if TYPE_CHECKING:
    from patchwave.sim.fleet import SimulatedFleet

TARGET_GROUPS_PAGE = 400
STANDBY_IDS_PER_CALL = 20


def _fault(fleet: SimulatedFleet, command: HookCommand, instance_id: str) -> str | None:
    text = " ".join([command.document, *(v for _, values in command.parameters for v in values)])
    for fault in fleet.spec.behaviour.hooks.faults:
        if instance_id in fault.instance_ids and fault.match in text:
            return fault.effect
    return None


def _execution_timeout(command: HookCommand) -> dt.timedelta:
    """The shell documents stop at their ``executionTimeout``; others at the default's 2 h."""
    for name, values in command.parameters:
        if name == "executionTimeout" and values and values[0].isdigit():
            return dt.timedelta(seconds=int(values[0]))
    return EXECUTION_TIMEOUT


def hook_invocation(
    fleet: SimulatedFleet, command_id: str, command: HookCommand, instance_id: str, now: dt.datetime
) -> SimInvocation:
    """One hook on one instance: delivered, run ``run_seconds``, Success (or Failed, or hung
    until its execution timeout, by the spec's faults)."""
    inst = fleet._instances[instance_id]  # noqa: SLF001
    fleet.touched.add(instance_id)
    timeout = now + dt.timedelta(seconds=command.timeout_seconds)

    def ended(
        end: dt.datetime, status: str, details: str, started: dt.datetime | None = None
    ) -> SimInvocation:
        inv = SimInvocation(command_id, instance_id, "Hook", "", started or end, end, status, details)
        inv.applied, inv.sent, inv.deliver_by = True, now, timeout
        return inv

    if inst.ping_status == "Inactive":
        return ended(now + UNDELIVERABLE_AFTER, "Failed", "Undeliverable")
    if inst.ping_status != "Online" or not inst.managed_at(now) or inst.down_at(now):
        return ended(timeout, "TimedOut", "DeliveryTimedOut")
    if inst.busy_at(now):
        fleet.overlaps.append((instance_id, now))
    started = now + dt.timedelta(seconds=fleet.spec.behaviour.delivery_seconds)
    effect = _fault(fleet, command, instance_id)
    if effect == "hang":
        inv = ended(started + _execution_timeout(command), "TimedOut", "ExecutionTimedOut", started)
    else:
        end = started + dt.timedelta(seconds=fleet.spec.behaviour.hooks.run_seconds)
        inv = ended(
            end,
            "Failed" if effect == "fail" else "Success",
            "Failed" if effect == "fail" else "Success",
            started,
        )
    inst.busy_until, inst.busy_forever = inv.end, False
    return inv


def _grouped(targets: Sequence[TargetRegistration]) -> dict[str, list[tuple[str, int | None]]]:
    grouped: dict[str, list[tuple[str, int | None]]] = {}
    for target in targets:
        grouped.setdefault(name_of(target.target_group_arn), []).append((target.instance_id, target.port))
    return grouped


def hook_of(request: dict[str, object]) -> HookCommand:
    """A hook command as a SendCommand request gives it (the emulator's side)."""
    parameters = request.get("Parameters") or {}
    assert isinstance(parameters, dict)
    ids = request["InstanceIds"]
    assert isinstance(ids, list)
    timeout = request.get("TimeoutSeconds", 600)
    return HookCommand(
        tuple(ids),
        str(request["DocumentName"]),
        tuple((str(k), tuple(v)) for k, v in sorted(parameters.items())),
        "emulated",
        "emulated",
        "",
        int(timeout) if isinstance(timeout, int) else 600,
    )


class DrainFleet:
    """Mixin: the Fleet port's drain and hook verbs on the simulated fleet."""

    _lock: threading.RLock

    # provided by SimulatedFleet
    def _call(self, api: str, count: int = 1) -> None:
        raise NotImplementedError

    def _advance(self) -> dt.datetime:
        raise NotImplementedError

    def save(self) -> None:
        raise NotImplementedError

    @property
    def services(self) -> SimServices:
        """Target groups and Auto Scaling groups (created on first use: an older state file loads)."""
        found = self.__dict__.get("_services")
        if found is None:
            fleet = self._fleet()
            seed = fleet.spec.seed
            spec_groups = {
                g.name: g.ids
                or [draws.instance_id(seed, g.name, i, g.on_premises) for i in range(g.count or 0)]
                for g in fleet.spec.groups
            }
            found = self.__dict__["_services"] = SimServices(
                fleet.spec.behaviour.drain, spec_groups, fleet.spec.start
            )
        return found

    def _fleet(self) -> SimulatedFleet:
        return self  # type: ignore[return-value]

    @property
    def hooks_sent(self) -> list[HookCommand]:
        """Every hook command sent (evidence for tests)."""
        found: list[HookCommand] = self.__dict__.setdefault("_hooks_sent", [])
        return found

    def service_memberships(
        self, instance_ids: Sequence[str], target_groups: Sequence[str] = ()
    ) -> dict[str, ServiceMembership]:
        with self._lock:
            services = self.services
            names = [name_of(a) for a in target_groups] if target_groups else list(services.targets)
            if not target_groups:
                self._call("DescribeTargetGroups", max(1, math.ceil(len(names) / TARGET_GROUPS_PAGE)))
            wanted = set(instance_ids)
            found: dict[str, list[TargetRegistration]] = {}
            for name in names:
                self._call("DescribeTargetHealth")
                now = self._advance()
                for target in services.listed(name, now):
                    if target.instance_id in wanted and target.deregistered_at is None:
                        found.setdefault(target.instance_id, []).append(
                            TargetRegistration(arn_of(name), target.instance_id, target.port)
                        )
            ec2_ids = [i for i in instance_ids if i.startswith("i-")]
            self._call("DescribeAutoScalingInstances", math.ceil(len(ec2_ids) / 50))
            now = self._advance()
            result: dict[str, ServiceMembership] = {}
            for iid in instance_ids:
                lifecycle = services.lifecycle(iid, now)
                group, state = lifecycle if lifecycle is not None else ("", "")
                if iid in found or group:
                    result[iid] = ServiceMembership(iid, tuple(found.get(iid, ())), group, state)
            return result

    def deregistration_delays(self, target_group_arns: Sequence[str]) -> dict[str, int]:
        with self._lock:
            self._call("DescribeTargetGroupAttributes", len(target_group_arns))
            groups = self.services.behaviour.target_groups
            return {
                a: groups[name_of(a)].deregistration_delay_seconds
                for a in target_group_arns
                if name_of(a) in groups
            }

    def _by_group(
        self, api: str, targets: Sequence[TargetRegistration], act: Callable[..., None]
    ) -> dict[str, str]:
        """As the adapter calls it: per group, 50 targets a request; a refused request is
        tried again target by target, so only the refused targets are left out."""
        refused: dict[str, str] = {}
        for name, members in _grouped(targets).items():
            for start in range(0, len(members), 50):
                part = members[start : start + 50]
                self._call(api)
                try:
                    act(name, part, self._advance())
                except ServiceRefused as exc:
                    for member in part if len(part) > 1 else []:
                        self._call(api)
                        try:
                            act(name, [member], self._advance())
                        except ServiceRefused as alone:
                            refused[member[0]] = f"{alone.code}: {alone.message}"
                    if len(part) == 1:
                        refused[part[0][0]] = f"{exc.code}: {exc.message}"
        self.save()
        return refused

    def deregister_targets(self, targets: Sequence[TargetRegistration]) -> None:
        with self._lock:
            self._by_group("DeregisterTargets", targets, self.services.deregister)

    def register_targets(self, targets: Sequence[TargetRegistration]) -> dict[str, str]:
        with self._lock:
            return self._by_group("RegisterTargets", targets, self.register_now)

    def register_now(self, group: str, members: list[tuple[str, int | None]], now: dt.datetime) -> None:
        """RegisterTargets as the service does it: a terminated instance refuses the request."""
        fleet = self._fleet()
        gone = [i for i, _ in members if fleet._instances[i].state_at(now) == "terminated"]  # noqa: SLF001
        if gone:
            raise ServiceRefused(
                "InvalidTarget", f"The following targets are not in a running state: {', '.join(gone)}"
            )
        self.services.register(group, members, now)

    def target_health(
        self, targets: Sequence[TargetRegistration]
    ) -> dict[TargetRegistration, tuple[str, str]]:
        with self._lock:
            found: dict[TargetRegistration, tuple[str, str]] = {}
            for name, members in _grouped(targets).items():
                for start in range(0, len(members), 50):
                    self._call("DescribeTargetHealth")
                    part = [
                        TargetRegistration(arn_of(name), iid, port)
                        for iid, port in members[start : start + 50]
                    ]
                    found.update(self.health_at(part, self._advance()))
            return found

    def health_at(
        self, targets: Sequence[TargetRegistration], now: dt.datetime
    ) -> dict[TargetRegistration, tuple[str, str]]:
        """Uncharged (the emulator charges its own requests)."""
        fleet = self._fleet()
        found: dict[TargetRegistration, tuple[str, str]] = {}
        for target in targets:
            name = name_of(target.target_group_arn)
            current = self.services.current(name, target.instance_id, now)
            if current is None or (target.port is not None and current.port != target.port):
                found[target] = ("unused", "Target.NotRegistered")
                continue
            down = fleet._instances[target.instance_id].down_at(now)  # noqa: SLF001
            found[target] = self.services.health(name, current, now, down)
        return found

    def _standby(
        self, act: Callable[[str, list[str], dt.datetime], None], api: str, group: str, ids: Sequence[str]
    ) -> dict[str, str]:
        refused: dict[str, str] = {}
        for chunk in chunks(list(ids), STANDBY_IDS_PER_CALL):
            self._call(api)
            try:
                act(group, list(chunk), self._advance())
            except ServiceRefused as exc:
                if len(chunk) == 1:
                    refused[chunk[0]] = f"{exc.code}: {exc.message}"
                    continue
                for iid in chunk:  # as the adapter does: each alone
                    refused.update(self._standby(act, api, group, [iid]))
        self.save()
        return refused

    def enter_standby(self, group: str, instance_ids: Sequence[str]) -> dict[str, str]:
        with self._lock:
            return self._standby(self.services.enter_standby, "EnterStandby", group, instance_ids)

    def exit_standby(self, group: str, instance_ids: Sequence[str]) -> dict[str, str]:
        with self._lock:
            return self._standby(self.services.exit_standby, "ExitStandby", group, instance_ids)

    def send_hook_command(self, command: HookCommand) -> str:
        fleet = self._fleet()
        with self._lock:
            asked = fleet.clock.now()
            self._call("SendCommand")
            now = self._advance()
            if fleet.unknown(command.instance_ids, now):
                raise InstancesNotFound("SendCommand", "InvalidInstanceId: an instance id is not valid")
            return self.start_hook(command, now, command.comment, asked)

    def start_hook(
        self, command: HookCommand, now: dt.datetime, comment: str, asked: dt.datetime | None = None
    ) -> str:
        """Start a hook command on known ids (the caller refused unknown ones)."""
        fleet = self._fleet()
        commands = fleet._commands  # noqa: SLF001
        command_id = f"{next(fleet._seq):08x}-hook-4000-8000-{len(commands):012x}"  # noqa: SLF001
        invocations = [hook_invocation(fleet, command_id, command, iid, now) for iid in command.instance_ids]
        for inv in invocations:
            fleet._schedule(inv.end or now, inv)  # noqa: SLF001
        commands[command_id] = invocations
        info = fleet._command_info[command_id] = SimCommand(command_id, command.document, now, comment, asked)  # noqa: SLF001
        fleet._index.add(info, invocations)  # noqa: SLF001
        fleet.hooks_sent.append(command)
        self.save()
        return command_id

    def find_hook_command(self, comment: str, since: dt.datetime, document: str) -> str | None:
        fleet = self._fleet()
        with self._lock:
            self._call("ListCommands")
            for info in fleet._command_info.values():  # noqa: SLF001
                if info.comment == comment and info.document == document and info.requested >= since:
                    return info.command_id
            return None
