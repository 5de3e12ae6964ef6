"""Systems Manager and EC2 answered from a SimulatedFleet, through botocore's event hooks.

moto has no command progressions, patch states or compliance, and runs every invocation to
Success at once. This emulator answers those calls from the simulated fleet instead, after
botocore has validated each request against the service model, so the AWS adapter's real
requests meet the simulator's semantics: pages (MaxResults / NextToken), errors a real account
returns (InvalidInstanceId, InvalidInstanceID.NotFound), LastPingDateTime, StatusDetails as
AWS spells them. Every request it answers is charged to the simulated fleet (its throttle,
latency and call counter), one call per request, so a window run through the AWS adapter
costs the simulated fleet exactly what the adapter asked for.

Handlers are methods named ``_<OperationName>(self, params)``: a mixin class may add more.
``emulated_aws_fleet`` builds an AwsFleet wired to one (for tests and benchmarks).
"""

from __future__ import annotations

import datetime as dt
import json
import random
from collections.abc import Callable, Sequence
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from patchwave.fleet import PatchCommand
from patchwave.sim.emulator_autoscaling import AutoScalingEmulation
from patchwave.sim.emulator_ec2_snapshots import EbsSnapshotsEmulation
from patchwave.sim.emulator_elbv2 import TARGET_GROUP, Elbv2Emulation
from patchwave.sim.emulator_gates import GatesEmulation
from patchwave.sim.emulator_patches import NamedPatchesEmulation
from patchwave.sim.fleet import PATCH_DOCUMENT, SimulatedFleet
from patchwave.sim.fleet_drain import hook_of
from patchwave.sim.records import SimCommand

if TYPE_CHECKING:
    from patchwave.aws.fleet import AwsFleet
    from patchwave.config.aws import AwsSettings

PLATFORMS = {
    "AMAZON_LINUX_2023": ("Linux", "Amazon Linux", "2023", "Linux/UNIX"),
    "AMAZON_LINUX_2": ("Linux", "Amazon Linux", "2", "Linux/UNIX"),
    "AMAZON_LINUX": ("Linux", "Amazon Linux AMI", "2018.03", "Linux/UNIX"),
    "DEBIAN": ("Linux", "Debian GNU/Linux", "12", "Linux/UNIX"),
    "UBUNTU": ("Linux", "Ubuntu", "22.04", "Linux/UNIX"),
    "WINDOWS": ("Windows", "Microsoft Windows Server 2022 Datacenter", "10.0.20348", "Windows"),
    "REDHAT_ENTERPRISE_LINUX": ("Linux", "Red Hat Enterprise Linux", "9.4", "Red Hat Enterprise Linux"),
    "SUSE": ("Linux", "SLES", "15.6", "SUSE Linux"),
}
# StatusDetails as ListCommandInvocations spells them (patchwave squeezes the spaces out).
SPACED = {
    "DeliveryTimedOut": "Delivery Timed Out",
    "ExecutionTimedOut": "Execution Timed Out",
    "InProgress": "In Progress",
    "AccessDenied": "Access Denied",
    "InvalidPlatform": "Invalid Platform",
}
SEVERITY_KEYS = {
    "CRITICAL": "CriticalCount",
    "HIGH": "HighCount",
    "MEDIUM": "MediumCount",
    "LOW": "LowCount",
    "INFORMATIONAL": "InformationalCount",
    "UNSPECIFIED": "UnspecifiedCount",
}
# Page sizes when a request gives no MaxResults (DescribeInstanceInformation's is documented
# as 10; the others are the largest each accepts).
DEFAULT_PAGE = {
    "DescribeInstanceInformation": 10,
    "DescribeInstancePatchStates": 10,
    "ListCommands": 50,
    "ListCommandInvocations": 50,
    "ListResourceComplianceSummaries": 50,
    "DescribeInstances": 1000,
}


class AwsError(Exception):
    """An error response: what botocore raises as ClientError with this code."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> Any:
        yield self.body


def _json(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.timestamp()
    raise TypeError(type(value).__name__)


def _page(operation: str, items: list[Any], params: dict[str, Any], key: str) -> dict[str, Any]:
    """One page of ``items`` as the API pages them (NextToken is an offset here): for short
    listings built whole (an id filter, one command's invocations)."""
    start = int(params.get("NextToken") or 0)
    size = int(params.get("MaxResults") or DEFAULT_PAGE.get(operation, len(items) or 1))
    answer: dict[str, Any] = {key: items[start : start + size]}
    if start + size < len(items):
        answer["NextToken"] = str(start + size)
    return answer


def _cursor_page(
    operation: str,
    keys: Sequence[str],
    build: Callable[[str], dict[str, Any] | None],
    params: dict[str, Any],
    key: str,
) -> dict[str, Any]:
    """One page of a listing over the whole fleet, built for that page only. NextToken is a
    position in ``keys`` (a stable order), not an offset among the items listed: a node that
    leaves the listing between two pages does not shift the next page (as AWS's opaque token
    does not), and each page is answered as things stand when it is asked for. ``build``
    answers None for a key not listed now; the token is given only when a later key is listed
    (looked for up to the first one that is)."""
    position = int(params.get("NextToken") or 0)
    size = int(params.get("MaxResults") or DEFAULT_PAGE.get(operation, 50))
    items: list[dict[str, Any]] = []
    while position < len(keys):
        item = build(keys[position])
        if item is not None:
            if len(items) == size:
                return {key: items, "NextToken": str(position)}
            items.append(item)
        position += 1
    return {key: items}


class Emulator(
    NamedPatchesEmulation, EbsSnapshotsEmulation, GatesEmulation, Elbv2Emulation, AutoScalingEmulation
):
    def __init__(self, sim: SimulatedFleet, document: str = PATCH_DOCUMENT) -> None:
        self.sim = sim
        self.document = document
        self.calls: list[str] = []
        self.requests: list[tuple[str, dict[str, Any]]] = []  # (operation, parameters) as answered
        self.faults: dict[str, int] = {}
        self._reboot_commands = 0
        self._order: list[str] = []

    def install(self, session: Any) -> None:
        session.events.register("before-parameter-build", self._stash)
        session.events.register("before-call", self._answer)

    def install_http(self, session: Any, *, throttle_rate: float, error_rate: float, seed: int) -> None:
        """Answer Systems Manager at the HTTP layer instead (JSON bodies), so botocore parses real
        responses and its retry logic runs; and inject faults there: throttling, 500s before or
        after the work is done, and dropped connections."""
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
                self._dispatch(operation, params)  # the work was done; only the answer is lost
            body = json.dumps({"__type": "InternalServerError", "message": "injected"}).encode()
            return AWSResponse(request.url, 500, {"x-amzn-RequestId": "r"}, _Raw(body))
        try:
            parsed = self._dispatch(operation, params)
        except AwsError as exc:
            body = json.dumps({"__type": exc.code, "message": exc.message}).encode()
            return AWSResponse(request.url, exc.status, {"x-amzn-RequestId": "r"}, _Raw(body))
        return AWSResponse(
            request.url, 200, {"x-amzn-RequestId": "r"}, _Raw(json.dumps(parsed, default=_json).encode())
        )

    @staticmethod
    def _stash(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["emulated_params"] = dict(params)

    def _answer(self, model: Any, context: dict[str, Any], **_: Any) -> Any:
        try:
            parsed = self._dispatch(model.name, context.get("emulated_params", {}))
        except AwsError as exc:
            error = {"Error": {"Code": exc.code, "Message": exc.message}, "ResponseMetadata": {}}
            return SimpleNamespace(status_code=exc.status, headers={}), error
        return SimpleNamespace(status_code=200, headers={}), parsed

    def _dispatch(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        handler = getattr(self, f"_{operation}", None)
        if handler is None:
            raise AssertionError(f"the emulator does not answer {operation}")
        self.calls.append(operation)
        self.requests.append((operation, params))
        self.sim.charge(operation)
        with self.sim._lock:  # noqa: SLF001 - one request at a time, as the fleet's verbs
            result: dict[str, Any] = handler(params)
            return result

    def _now(self) -> dt.datetime:
        return self.sim._advance()  # noqa: SLF001 - under the lock taken by _dispatch

    # ----------------------------------------------------------------- sts / ec2
    def _GetCallerIdentity(self, _: dict[str, Any]) -> dict[str, Any]:
        return {"Account": "123456789012", "Arn": "arn:aws:iam::123456789012:user/emulated", "UserId": "X"}

    def _not_found(self, ids: Sequence[str]) -> None:
        unknown = self.sim.unknown(ids, self._now())
        if len(unknown) == 1:
            raise AwsError("InvalidInstanceID.NotFound", f"The instance ID '{unknown[0]}' does not exist")
        if unknown:
            raise AwsError(
                "InvalidInstanceID.NotFound", f"The instance IDs '{', '.join(unknown)}' do not exist"
            )

    def _DescribeInstances(self, params: dict[str, Any]) -> dict[str, Any]:
        now = self._now()
        if params.get("InstanceIds"):
            self._not_found(params["InstanceIds"])
            chosen = [self.sim._instances[i] for i in params["InstanceIds"]]  # noqa: SLF001
        else:
            chosen = [i for i in self.sim._instances.values() if i.instance_id.startswith("i-")]  # noqa: SLF001
        for item in params.get("Filters", []):
            if item["Name"] == "instance-state-name":
                chosen = [i for i in chosen if i.state_at(now) in item["Values"]]
        instances = [
            {
                "InstanceId": inst.instance_id,
                "State": {"Name": inst.state_at(now)},
                "Tags": [{"Key": k, "Value": v} for k, v in inst.tags.items()],
                "PrivateIpAddress": "10.0.0.1",
                "PlatformDetails": PLATFORMS[inst.platform][3],
                **self.block_devices(inst),
            }
            for inst in chosen
        ]
        page = _page("DescribeInstances", instances, params, "Instances")
        answer: dict[str, Any] = {
            "Reservations": [{"Instances": page["Instances"]}] if page["Instances"] else []
        }
        if "NextToken" in page:
            answer["NextToken"] = page["NextToken"]
        return answer

    def _RebootInstances(self, params: dict[str, Any]) -> dict[str, Any]:
        self._not_found(params["InstanceIds"])
        self.sim.reboot_now(params["InstanceIds"], self._now())
        return {}

    # ----------------------------------------------------------------- ssm inventory
    def _DescribeInstanceInformation(self, params: dict[str, Any]) -> dict[str, Any]:
        now = self._now()
        ids: Sequence[str] | None = None
        for item in params.get("Filters", []):
            if item["Key"] == "InstanceIds":
                ids = item["Values"]

        def build(iid: str) -> dict[str, Any] | None:
            inst = self.sim._instances.get(iid)  # noqa: SLF001
            if inst is None or not inst.managed_at(now):
                return None  # stopped, terminated or unknown: not listed
            ping = self.sim.ping_infos([iid], now)[iid]
            kind, name, version, _ = PLATFORMS[inst.platform]
            return {
                "InstanceId": iid,
                "PingStatus": ping.status,
                "LastPingDateTime": ping.last_ping,
                "PlatformType": kind,
                "PlatformName": name,
                "PlatformVersion": version,
                "ResourceType": "ManagedInstance" if iid.startswith("mi-") else "EC2Instance",
                "IPAddress": "10.0.0.2",
            }

        keys = ids if ids is not None else self._instance_order()
        return _cursor_page("DescribeInstanceInformation", keys, build, params, "InstanceInformationList")

    def _instance_order(self) -> list[str]:
        """Every node of the account in a stable order (the fleet's are fixed once built)."""
        instances = self.sim._instances  # noqa: SLF001
        if len(self._order) != len(instances):
            self._order = list(instances)
        return self._order

    def _ListTagsForResource(self, params: dict[str, Any]) -> dict[str, Any]:
        inst = self.sim._instances[params["ResourceId"]]  # noqa: SLF001
        return {"TagList": [{"Key": k, "Value": v} for k, v in inst.tags.items()]}

    # ----------------------------------------------------------------- commands
    def _SendCommand(self, params: dict[str, Any]) -> dict[str, Any]:
        now = self._now()
        ids = list(params.get("InstanceIds", []))
        if self.sim.unknown(ids, now):
            raise AwsError("InvalidInstanceId", "Instances not in a valid state for account")
        comment = params.get("Comment", "")
        if params["DocumentName"] != self.document and not comment.startswith("patchwave controlled reboot"):
            return {
                "Command": {
                    "CommandId": self.sim.start_hook(hook_of(params), now, comment),
                    "Comment": comment,
                }
            }
        if params["DocumentName"] != self.document:  # the adapter's reboot script (exit 194)
            self.sim.reboot_now(ids, now)
            self._reboot_commands += 1
            command_id = f"{self._reboot_commands:08x}-rebo-4000-8000-000000000000"
            return {"Command": {"CommandId": command_id, "Comment": comment, "Status": "Pending"}}
        parameters = params["Parameters"]
        command = PatchCommand(
            instance_ids=tuple(ids),
            operation=parameters["Operation"][0],
            reboot_option=parameters.get("RebootOption", ["RebootIfNeeded"])[0],
            snapshot_id=parameters.get("SnapshotId", [""])[0],
            run_id="emulated",
            install_override=self.override_ids(parameters),
            timeout_seconds=params.get("TimeoutSeconds", 600),
            alarm=params.get("AlarmConfiguration", {"Alarms": [{"Name": ""}]})["Alarms"][0]["Name"],
        )
        command_id = self.sim.start_command(command, now, comment)
        return {"Command": {"CommandId": command_id, "Comment": comment, "Status": "Pending"}}

    def _command_item(self, command_id: str, now: dt.datetime) -> dict[str, Any]:
        progress = self.sim.progress_of(command_id, now)
        info = self.sim.command_info(command_id)
        assert info is not None
        return {
            "CommandId": command_id,
            "Comment": info.comment,
            "RequestedDateTime": info.requested,
            "Status": progress.status,
            "TargetCount": progress.target_count,
            "CompletedCount": progress.completed_count,
            "ErrorCount": progress.error_count,
            "DocumentName": info.document,
        }

    def _ListCommands(self, params: dict[str, Any]) -> dict[str, Any]:
        now = self._now()
        if "CommandId" in params:
            known = self.sim.command_info(params["CommandId"]) is not None
            return {"Commands": [self._command_item(params["CommandId"], now)] if known else []}
        filters = [(item["key"], item["value"]) for item in params.get("Filters", [])]

        def matches(info: SimCommand) -> bool:
            for key, value in filters:
                when = (
                    dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
                    if key.startswith("Invoked")
                    else None
                )
                if key == "InvokedAfter" and when is not None and info.requested < when:
                    return False
                if key == "InvokedBefore" and when is not None and info.requested > when:
                    return False
                if key == "DocumentName" and info.document != value:
                    return False
                if key == "ExecutionStage" and (value == "Executing") != self.sim.is_executing(
                    info.command_id, now
                ):
                    return False
                if key == "Status" and self.sim.progress_of(info.command_id, now).status != value:
                    return False
            return True

        size = int(params.get("MaxResults") or DEFAULT_PAGE["ListCommands"])
        after = [
            dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
            for key, value in filters
            if key == "InvokedAfter"
        ]
        executing = ("ExecutionStage", "Executing") in filters
        page, cursor = self.sim.commands_page(
            matches,
            int(params.get("NextToken") or 0),
            size,
            invoked_after=max(after) if after else None,
            executing_at=now if executing else None,
        )
        answer: dict[str, Any] = {"Commands": [self._command_item(c, now) for c in page]}
        if cursor is not None:
            answer["NextToken"] = str(cursor)
        return answer

    def _ListCommandInvocations(self, params: dict[str, Any]) -> dict[str, Any]:
        now = self._now()
        command_id = params["CommandId"]
        if self.sim.command_info(command_id) is None:
            raise AwsError("InvalidCommandId", f"command {command_id} is not known")
        items = [
            {
                "CommandId": inv.command_id,
                "InstanceId": inv.instance_id,
                "Status": inv.status,
                "StatusDetails": SPACED.get(inv.status_details, inv.status_details),
            }
            for inv in self.sim.invocations_of(command_id, now)
        ]
        return _page("ListCommandInvocations", items, params, "CommandInvocations")

    def _CancelCommand(self, params: dict[str, Any]) -> dict[str, Any]:
        self.sim.cancel(params["CommandId"], params.get("InstanceIds", []), self._now())
        return {}

    # ----------------------------------------------------------------- states
    def _DescribeInstancePatchStates(self, params: dict[str, Any]) -> dict[str, Any]:
        self._now()
        reported = self.sim._reported  # noqa: SLF001
        items = []
        for iid in params["InstanceIds"]:
            if iid not in reported:
                continue
            state = reported[iid][0]
            items.append(
                {
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
            )
        return _page("DescribeInstancePatchStates", items, params, "InstancePatchStates")

    def _ListResourceComplianceSummaries(self, params: dict[str, Any]) -> dict[str, Any]:
        now = self._now()
        reported = self.sim._reported  # noqa: SLF001

        def build(iid: str) -> dict[str, Any] | None:
            if iid not in reported or self.sim._instances[iid].state_at(now) == "terminated":  # noqa: SLF001
                return None  # the compliance of a terminated node is gone
            summary = reported[iid][1]
            severity = {SEVERITY_KEYS[k]: v for k, v in summary.non_compliant_by_severity.items()}
            return {
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

        return _cursor_page(
            "ListResourceComplianceSummaries",
            self._instance_order(),
            build,
            params,
            "ResourceComplianceSummaryItems",
        )


def emulated_session(sim: SimulatedFleet, region: str = "eu-west-1") -> tuple[Any, Emulator]:
    """A boto3 session whose SSM, EC2, STS and ELB calls the emulator answers from ``sim``."""
    import boto3

    session = boto3.Session(
        aws_access_key_id="emulated", aws_secret_access_key="emulated", region_name=region
    )
    emulator = Emulator(sim)
    emulator.install(session)
    return session, emulator


def emulated_aws_fleet(
    sim: SimulatedFleet, settings: AwsSettings | None = None, region: str = "eu-west-1"
) -> tuple[AwsFleet, Emulator]:
    """The real AWS adapter on an emulated account backed by ``sim`` (and on its clock): the
    way to run any window, scenario or benchmark through boto3 as well as on the simulator."""
    from patchwave.aws.fleet import AwsFleet
    from patchwave.aws.session import AwsClients
    from patchwave.config.aws import AwsSettings

    session, emulator = emulated_session(sim, region)
    # health through one target group, which the emulator answers from the simulated health
    chosen = settings or AwsSettings.model_validate(
        {"region": region, "health": {"target_group_arns": [TARGET_GROUP]}}
    )
    return AwsFleet(AwsClients(session), chosen, clock=sim.clock), emulator
