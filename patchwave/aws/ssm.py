"""Systems Manager calls patchwave makes, thin and chunked by the API's limits.

Mutating calls and the IAM permission each needs:
- SendCommand: ssm:SendCommand (on the document and the instances; iam:PassRole for the
  notification role when NotificationConfig is used)
- CancelCommand: ssm:CancelCommand
- CreatePatchBaseline / UpdatePatchBaseline / DeletePatchBaseline: ssm:CreatePatchBaseline, ...
- RegisterPatchBaselineForPatchGroup / DeregisterPatchBaselineForPatchGroup
- RegisterDefaultPatchBaseline: ssm:RegisterDefaultPatchBaseline
- AddTagsToResource: ssm:AddTagsToResource

Read for the freeze gate: GetCalendarState (ssm:GetCalendarState), one calendar a call.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from typing import Any

from botocore.exceptions import ClientError
from tenacity import retry, retry_if_exception, stop_after_attempt, wait_exponential

from patchwave.fleet import chunks

RACE_CODES = frozenset({"InvocationDoesNotExist", "InvalidCommandId"})


def _is_race(exc: BaseException) -> bool:
    return isinstance(exc, ClientError) and exc.response["Error"]["Code"] in RACE_CODES


# A command just sent may not be visible yet everywhere: retry those answers a few times.
race_retry = retry(
    retry=retry_if_exception(_is_race),
    stop=stop_after_attempt(5),
    wait=wait_exponential(multiplier=0.5, max=8),
    reraise=True,
)


def instance_information(ssm: Any, instance_ids: Sequence[str] | None = None) -> Iterator[dict[str, Any]]:
    """DescribeInstanceInformation, all pages (filtered by ids in chunks of 50 when given)."""
    paginator = ssm.get_paginator("describe_instance_information")
    if instance_ids is None:
        for page in paginator.paginate(PaginationConfig={"PageSize": 50}):
            yield from page["InstanceInformationList"]
        return
    for chunk in chunks(list(instance_ids)):
        pages = paginator.paginate(
            Filters=[{"Key": "InstanceIds", "Values": list(chunk)}], PaginationConfig={"PageSize": 50}
        )
        for page in pages:
            yield from page["InstanceInformationList"]


def managed_instance_tags(ssm: Any, instance_id: str) -> dict[str, str]:
    response = ssm.list_tags_for_resource(ResourceType="ManagedInstance", ResourceId=instance_id)
    return {t["Key"]: t["Value"] for t in response.get("TagList", [])}


def send_command(ssm_send: Any, **kwargs: Any) -> dict[str, Any]:
    response: dict[str, Any] = ssm_send.send_command(**kwargs)["Command"]
    return response


def find_command_by_comment(
    ssm: Any, comment: str, since: dt.datetime, document: str
) -> dict[str, Any] | None:
    """After an ambiguous SendCommand: was it accepted? Look for its unique Comment."""
    paginator = ssm.get_paginator("list_commands")
    filters = [
        {"key": "InvokedAfter", "value": since.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")},
        {"key": "DocumentName", "value": document},
    ]
    for page in paginator.paginate(Filters=filters, PaginationConfig={"PageSize": 50}):
        for command in page["Commands"]:
            if command.get("Comment") == comment:
                return dict(command)
    return None


def executing_commands(ssm: Any, since: dt.datetime, document: str) -> Iterator[dict[str, Any]]:
    """ListCommands for the commands of a document invoked after a moment that are still
    executing (ExecutionStage Executing), 50 a page: the pages follow the commands running,
    not every command sent since (finished ones are read through their invocations)."""
    paginator = ssm.get_paginator("list_commands")
    filters = [
        {"key": "InvokedAfter", "value": since.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")},
        {"key": "DocumentName", "value": document},
        {"key": "ExecutionStage", "value": "Executing"},
    ]
    for page in paginator.paginate(Filters=filters, PaginationConfig={"PageSize": 50}):
        yield from page["Commands"]


@race_retry
def invocations(ssm: Any, command_id: str) -> list[dict[str, Any]]:
    paginator = ssm.get_paginator("list_command_invocations")
    found: list[dict[str, Any]] = []
    for page in paginator.paginate(CommandId=command_id, PaginationConfig={"PageSize": 50}):
        found.extend(page["CommandInvocations"])
    return found


@race_retry
def cancel_command(ssm: Any, command_id: str, instance_ids: Sequence[str]) -> None:
    for chunk in chunks(list(instance_ids)):
        ssm.cancel_command(CommandId=command_id, InstanceIds=list(chunk))


def patch_states(ssm: Any, instance_ids: Sequence[str]) -> list[dict[str, Any]]:
    paginator = ssm.get_paginator("describe_instance_patch_states")
    found: list[dict[str, Any]] = []
    for chunk in chunks(list(instance_ids)):
        for page in paginator.paginate(InstanceIds=list(chunk), PaginationConfig={"PageSize": 50}):
            found.extend(page["InstancePatchStates"])
    return found


def patch_compliance_summaries(ssm: Any) -> Iterator[dict[str, Any]]:
    """ListResourceComplianceSummaries for ComplianceType Patch, all pages."""
    paginator = ssm.get_paginator("list_resource_compliance_summaries")
    filters = [{"Key": "ComplianceType", "Values": ["Patch"], "Type": "EQUAL"}]
    for page in paginator.paginate(Filters=filters, PaginationConfig={"PageSize": 50}):
        yield from page["ResourceComplianceSummaryItems"]


NOT_A_CALENDAR = frozenset({"InvalidDocument", "InvalidDocumentType", "UnsupportedCalendarException"})


def calendar_state(ssm: Any, name: str, at: dt.datetime) -> str | None:
    """OPEN or CLOSED for one Change Calendar at a moment (GetCalendarState with AtTime), or
    None when the name is not a readable calendar (InvalidDocument, InvalidDocumentType,
    UnsupportedCalendarException): the caller treats that as closed."""
    try:
        response = ssm.get_calendar_state(
            CalendarNames=[name], AtTime=at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] in NOT_A_CALENDAR:
            return None
        raise
    return str(response["State"])
