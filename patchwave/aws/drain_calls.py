"""The drain-and-hooks verbs of the Fleet port on AWS (issue 16), a mixin of ``AwsFleet``:
ELB target groups (``aws/elbv2.py``), Auto Scaling Standby (``aws/autoscaling.py``) and hook
commands through Systems Manager (SendCommand never re-sent blindly: ``_send_checked``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from patchwave.aws import autoscaling, elbv2, ssm
from patchwave.fleet import HookCommand, ServiceMembership, TargetRegistration

if TYPE_CHECKING:
    from patchwave.aws.session import AwsClients
    from patchwave.clock import Clock


def _by_group(targets: Sequence[TargetRegistration]) -> dict[str, list[tuple[str, int | None]]]:
    grouped: dict[str, list[tuple[str, int | None]]] = {}
    for target in targets:
        grouped.setdefault(target.target_group_arn, []).append((target.instance_id, target.port))
    return grouped


class DrainCalls:
    clients: AwsClients
    clock: Clock
    _sent_at: dict[str, dt.datetime]

    def _send_checked(self, request: dict[str, Any], comment: str) -> str:  # provided by AwsFleet
        raise NotImplementedError

    def service_memberships(
        self, instance_ids: Sequence[str], target_groups: Sequence[str] = ()
    ) -> dict[str, ServiceMembership]:
        groups = list(target_groups) or elbv2.instance_target_groups(self.clients.elbv2)
        targets: dict[str, list[TargetRegistration]] = {}
        for arn, iid, port in elbv2.registrations(self.clients.elbv2, groups, instance_ids):
            targets.setdefault(iid, []).append(TargetRegistration(arn, iid, port))
        members = autoscaling.groups_of(self.clients.autoscaling, instance_ids)
        found: dict[str, ServiceMembership] = {}
        for iid in instance_ids:
            group, state = members.get(iid, ("", ""))
            if iid in targets or group:
                found[iid] = ServiceMembership(iid, tuple(targets.get(iid, ())), group, state)
        return found

    def deregistration_delays(self, target_group_arns: Sequence[str]) -> dict[str, int]:
        return {arn: elbv2.deregistration_delay(self.clients.elbv2, arn) for arn in target_group_arns}

    def deregister_targets(self, targets: Sequence[TargetRegistration]) -> None:
        for arn, members in _by_group(targets).items():
            elbv2.deregister(self.clients.elbv2, arn, members)

    def register_targets(self, targets: Sequence[TargetRegistration]) -> dict[str, str]:
        refused: dict[str, str] = {}
        for arn, members in _by_group(targets).items():
            refused.update(elbv2.register(self.clients.elbv2, arn, members))
        return refused

    def target_health(
        self, targets: Sequence[TargetRegistration]
    ) -> dict[TargetRegistration, tuple[str, str]]:
        found: dict[TargetRegistration, tuple[str, str]] = {}
        for arn, members in _by_group(targets).items():
            states = elbv2.health_of(self.clients.elbv2, arn, members)
            for iid, port in members:
                if (iid, port) in states:
                    found[TargetRegistration(arn, iid, port)] = states[(iid, port)]
        return found

    def enter_standby(self, group: str, instance_ids: Sequence[str]) -> dict[str, str]:
        return autoscaling.enter_standby(self.clients.autoscaling, group, instance_ids)

    def exit_standby(self, group: str, instance_ids: Sequence[str]) -> dict[str, str]:
        return autoscaling.exit_standby(self.clients.autoscaling, group, instance_ids)

    def send_hook_command(self, command: HookCommand) -> str:
        request = {
            "DocumentName": command.document,
            "InstanceIds": list(command.instance_ids),
            "Parameters": {name: list(values) for name, values in command.parameters},
            "Comment": command.comment,
            "TimeoutSeconds": max(30, command.timeout_seconds),
            "MaxConcurrency": str(len(command.instance_ids)),
            "MaxErrors": str(len(command.instance_ids)),
        }
        return self._send_checked(request, command.comment)  # InvalidInstanceId: InstancesNotFound

    def find_hook_command(self, comment: str, since: dt.datetime, document: str) -> str | None:
        found = ssm.find_command_by_comment(self.clients.ssm, comment, since, document)
        if found is None:
            return None
        command_id = str(found["CommandId"])
        self._sent_at.setdefault(command_id, since)
        return command_id
