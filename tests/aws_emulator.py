"""Systems Manager and EC2 answered from a SimulatedFleet, through botocore's event hooks.

moto has no command progressions, patch states or compliance, and runs every invocation to
Success at once. This emulator answers those calls from the simulated fleet instead, after
botocore has validated each request against the service model, so the AWS adapter's real
requests meet the simulator's real semantics. Only what a window needs is answered.
"""

from __future__ import annotations

import datetime as dt
import json
from types import SimpleNamespace
from typing import Any

from patchwave.fleet import PatchCommand
from patchwave.sim.emulator_patches import NamedPatchesEmulation
from patchwave.sim.fleet import SimulatedFleet

PLATFORMS = {
    "AMAZON_LINUX_2023": ("Linux", "Amazon Linux", "2023"),
    "AMAZON_LINUX_2": ("Linux", "Amazon Linux", "2"),
    "UBUNTU": ("Linux", "Ubuntu", "22.04"),
    "WINDOWS": ("Windows", "Microsoft Windows Server 2022 Datacenter", "10.0.20348"),
    "REDHAT_ENTERPRISE_LINUX": ("Linux", "Red Hat Enterprise Linux", "9.4"),
    "SUSE": ("Linux", "SLES", "15.6"),
}
SPACED = {"DeliveryTimedOut": "Delivery Timed Out", "ExecutionTimedOut": "Execution Timed Out"}
SEVERITY_KEYS = {
    "CRITICAL": "CriticalCount",
    "HIGH": "HighCount",
    "MEDIUM": "MediumCount",
    "LOW": "LowCount",
    "INFORMATIONAL": "InformationalCount",
    "UNSPECIFIED": "UnspecifiedCount",
}


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> Any:
        yield self.body


def _json(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.timestamp()
    raise TypeError(type(value).__name__)


class Emulator(NamedPatchesEmulation):
    def __init__(self, sim: SimulatedFleet) -> None:
        self.sim = sim
        self.comments: dict[str, tuple[str, dt.datetime]] = {}
        self.calls: list[str] = []
        self.faults: dict[str, int] = {}

    def install(self, session: Any) -> None:
        session.events.register("before-parameter-build", self._stash)
        session.events.register("before-call", self._answer)

    def install_http(self, session: Any, *, throttle_rate: float, error_rate: float, seed: int) -> None:
        """Answer Systems Manager at the HTTP layer instead (JSON bodies), so botocore parses real
        responses and its retry logic runs; and inject faults there: throttling, 500s before or
        after the work is done, and dropped connections."""
        import random

        self._rng = random.Random(seed)
        self._throttle_rate, self._error_rate = throttle_rate, error_rate
        session.events.register("before-parameter-build", self._stash)
        session.events.register("before-call", self._answer_unless_ssm)
        session.events.register("before-send.ssm", self._http)

    def _answer_unless_ssm(self, model: Any, context: dict[str, Any], **kwargs: Any) -> Any:
        if model.service_model.service_name == "ssm":
            return None
        return self._answer(model=model, context=context, **kwargs)

    def _http(self, request: Any, **_: Any) -> Any:
        from botocore.awsrequest import AWSResponse
        from botocore.exceptions import ConnectionClosedError

        target = request.headers.get("X-Amz-Target")
        operation = (target.decode() if isinstance(target, bytes) else target).split(".")[-1]
        params = json.loads(request.body or b"{}")
        roll = self._rng.random()
        if roll < self._throttle_rate:
            self.faults["throttled"] = self.faults.get("throttled", 0) + 1
            body = json.dumps({"__type": "ThrottlingException", "message": "Rate exceeded"}).encode()
            return AWSResponse(request.url, 400, {"x-amzn-RequestId": "r"}, _Raw(body))
        if roll < self._throttle_rate + self._error_rate:
            kind = self._rng.choice(["500-before", "500-after", "connection"])
            self.faults[kind] = self.faults.get(kind, 0) + 1
            if kind == "connection":
                raise ConnectionClosedError(endpoint_url=request.url)
            if kind == "500-after":
                getattr(self, f"_{operation}")(params)  # the work was done; only the answer is lost
            body = json.dumps({"__type": "InternalServerError", "message": "injected"}).encode()
            return AWSResponse(request.url, 500, {"x-amzn-RequestId": "r"}, _Raw(body))
        self.calls.append(operation)
        parsed = getattr(self, f"_{operation}")(params)
        return AWSResponse(
            request.url, 200, {"x-amzn-RequestId": "r"}, _Raw(json.dumps(parsed, default=_json).encode())
        )

    @staticmethod
    def _stash(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["emulated_params"] = dict(params)

    def _answer(self, model: Any, context: dict[str, Any], **_: Any) -> Any:
        handler = getattr(self, f"_{model.name}", None)
        if handler is None:
            raise AssertionError(f"the emulator does not answer {model.name}")
        self.calls.append(model.name)
        return SimpleNamespace(status_code=200, headers={}), handler(context.get("emulated_params", {}))

    # ----------------------------------------------------------------- sts / ec2
    def _GetCallerIdentity(self, _: dict[str, Any]) -> dict[str, Any]:
        return {"Account": "123456789012", "Arn": "arn:aws:iam::123456789012:user/emulated", "UserId": "X"}

    def _DescribeInstances(self, params: dict[str, Any]) -> dict[str, Any]:
        wanted = params.get("InstanceIds") or [i.instance_id for i in self.sim.list_instances()]
        instances = []
        for iid in wanted:
            inst = self.sim.instance(iid)
            instances.append(
                {
                    "InstanceId": iid,
                    "State": {"Name": inst.state},
                    "Tags": [{"Key": k, "Value": v} for k, v in inst.tags.items()],
                    "PrivateIpAddress": "10.0.0.1",
                }
            )
        return {"Reservations": [{"Instances": instances}]}

    def _RebootInstances(self, params: dict[str, Any]) -> dict[str, Any]:
        self.sim.reboot(params["InstanceIds"])
        return {}

    # ----------------------------------------------------------------- ssm inventory
    def _DescribeInstanceInformation(self, params: dict[str, Any]) -> dict[str, Any]:
        ids: list[str] | None = None
        for item in params.get("Filters", []):
            if item["Key"] == "InstanceIds":
                ids = item["Values"]
        if ids is None:
            ids = [i.instance_id for i in self.sim.list_instances()]
        now = self.sim.clock.now()
        items = []
        for iid in ids:
            inst = self.sim.instance(iid)
            kind, name, version = PLATFORMS[inst.platform]
            items.append(
                {
                    "InstanceId": iid,
                    "PingStatus": inst.ping_at(now),
                    "PlatformType": kind,
                    "PlatformName": name,
                    "PlatformVersion": version,
                    "ResourceType": "ManagedInstance" if iid.startswith("mi-") else "EC2Instance",
                }
            )
        return {"InstanceInformationList": items}

    def _ListTagsForResource(self, params: dict[str, Any]) -> dict[str, Any]:
        inst = self.sim.instance(params["ResourceId"])
        return {"TagList": [{"Key": k, "Value": v} for k, v in inst.tags.items()]}

    # ----------------------------------------------------------------- commands
    def _SendCommand(self, params: dict[str, Any]) -> dict[str, Any]:
        parameters = params["Parameters"]
        command = PatchCommand(
            instance_ids=tuple(params["InstanceIds"]),
            operation=parameters["Operation"][0],
            reboot_option=parameters["RebootOption"][0],
            snapshot_id=parameters["SnapshotId"][0],
            run_id="emulated",
            install_override=self.override_ids(parameters),
            timeout_seconds=params.get("TimeoutSeconds", 600),
        )
        command_id = self.sim.send_patch_command(command)
        self.comments[command_id] = (params.get("Comment", ""), self.sim.clock.now())
        return {
            "Command": {"CommandId": command_id, "Comment": params.get("Comment", ""), "Status": "Pending"}
        }

    def _command_item(self, command_id: str) -> dict[str, Any]:
        progress = self.sim.command_progress([command_id])[command_id]
        comment, requested = self.comments[command_id]
        return {
            "CommandId": command_id,
            "Comment": comment,
            "RequestedDateTime": requested,
            "Status": progress.status,
            "TargetCount": progress.target_count,
            "CompletedCount": progress.completed_count,
            "ErrorCount": progress.error_count,
            "DocumentName": "AWS-RunPatchBaseline",
        }

    def _ListCommands(self, params: dict[str, Any]) -> dict[str, Any]:
        if "CommandId" in params:
            return {
                "Commands": [self._command_item(params["CommandId"])]
                if params["CommandId"] in self.comments
                else []
            }
        since = dt.datetime.min.replace(tzinfo=dt.UTC)
        for item in params.get("Filters", []):
            if item["key"] == "InvokedAfter":
                since = dt.datetime.fromisoformat(item["value"].replace("Z", "+00:00"))
        return {"Commands": [self._command_item(c) for c, (_, at) in self.comments.items() if at >= since]}

    def _ListCommandInvocations(self, params: dict[str, Any]) -> dict[str, Any]:
        items = [
            {
                "CommandId": inv.command_id,
                "InstanceId": inv.instance_id,
                "Status": inv.status,
                "StatusDetails": SPACED.get(inv.status_details, inv.status_details),
            }
            for inv in self.sim.list_invocations(params["CommandId"])
        ]
        return {"CommandInvocations": items}

    def _CancelCommand(self, params: dict[str, Any]) -> dict[str, Any]:
        self.sim.cancel_command(params["CommandId"], params.get("InstanceIds", []))
        return {}

    # ----------------------------------------------------------------- states
    def _DescribeInstancePatchStates(self, params: dict[str, Any]) -> dict[str, Any]:
        states = self.sim.patch_states(params["InstanceIds"])
        items = []
        for state in states.values():
            item = {
                "InstanceId": state.instance_id,
                "PatchGroup": state.patch_group,
                "BaselineId": state.baseline_id,
                "SnapshotId": state.snapshot_id,
                "Operation": state.operation,
                "OperationStartTime": state.operation_end_time,
                "OperationEndTime": state.operation_end_time,
                "InstalledCount": state.installed,
                "InstalledOtherCount": state.installed_other,
                "InstalledPendingRebootCount": state.installed_pending_reboot,
                "InstalledRejectedCount": state.installed_rejected,
                "MissingCount": state.missing,
                "FailedCount": state.failed,
                "NotApplicableCount": state.not_applicable,
                "CriticalNonCompliantCount": state.critical_non_compliant,
                "SecurityNonCompliantCount": state.security_non_compliant,
                "OtherNonCompliantCount": state.other_non_compliant,
            }
            items.append(item)
        return {"InstancePatchStates": items}

    def _ListResourceComplianceSummaries(self, params: dict[str, Any]) -> dict[str, Any]:
        ids = [i.instance_id for i in self.sim.list_instances()]
        items = []
        for summary in self.sim.compliance(ids).values():
            severity = {SEVERITY_KEYS[k]: v for k, v in summary.non_compliant_by_severity.items()}
            items.append(
                {
                    "ComplianceType": "Patch",
                    "ResourceType": "ManagedInstance",
                    "ResourceId": summary.instance_id,
                    "Status": "COMPLIANT" if summary.compliant else "NON_COMPLIANT",
                    "CompliantSummary": {"CompliantCount": summary.compliant_count},
                    "NonCompliantSummary": {
                        "NonCompliantCount": sum(severity.values()),
                        "SeveritySummary": severity,
                    },
                }
            )
        return {"ResourceComplianceSummaryItems": items}

    # ----------------------------------------------------------------- elbv2
    def _DescribeTargetHealth(self, params: dict[str, Any]) -> dict[str, Any]:
        ids = [i.instance_id for i in self.sim.list_instances() if i.instance_id.startswith("i-")]
        health = self.sim.health(ids)
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
