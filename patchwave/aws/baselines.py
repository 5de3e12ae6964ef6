"""Patch baselines in the account: read (every field), apply changes, export.

Mutating calls (IAM permission = ssm:<name>): CreatePatchBaseline, UpdatePatchBaseline,
AddTagsToResource, RegisterPatchBaselineForPatchGroup, DeregisterPatchBaselineForPatchGroup,
RegisterDefaultPatchBaseline.

Any AWS error stops the command with one line naming the operation, the error code and the
message (``BaselineCallFailed``); an apply that stops half-way says what it changed before.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from patchwave.baselines.sync import AccountBaseline, AccountState, Change, aws_request, from_aws
from patchwave.config.baselines import BaselinesFile
from patchwave.errors import PatchwaveError

MANAGED_TAG = {"Key": "managed-by", "Value": "patchwave"}


class BaselineCallFailed(PatchwaveError):
    """An AWS call of a baselines command failed; ``done`` is what was applied before it."""

    def __init__(
        self, operation: str, exc: Exception, done: list[str] | None = None, not_done: list[str] | None = None
    ) -> None:
        if isinstance(exc, ClientError):
            error = exc.response.get("Error", {})
            what = f"{error.get('Code', 'Error')}: {error.get('Message', '')}"
        else:
            what = f"{type(exc).__name__}: {exc}"
        self.operation = operation
        self.done = done or []
        self.not_done = not_done or []
        super().__init__(f"{operation}: {what}".replace("\n", " "))


def _call(ssm: Any, method: str, **kwargs: Any) -> Any:
    """One SSM call; an AWS failure becomes one line naming the operation."""
    try:
        return getattr(ssm, method)(**kwargs)
    except (ClientError, BotoCoreError) as exc:
        raise BaselineCallFailed(ssm.meta.method_to_api_mapping.get(method, method), exc) from exc


def _pages(ssm: Any, method: str, key: str, **kwargs: Any) -> list[dict[str, Any]]:
    try:
        return [item for page in ssm.get_paginator(method).paginate(**kwargs) for item in page[key]]
    except (ClientError, BotoCoreError) as exc:
        raise BaselineCallFailed(ssm.meta.method_to_api_mapping.get(method, method), exc) from exc


def _managed(ssm: Any, baseline_id: str) -> bool:
    tags = _call(ssm, "list_tags_for_resource", ResourceType="PatchBaseline", ResourceId=baseline_id)
    return any(t["Key"] == MANAGED_TAG["Key"] and t["Value"] == MANAGED_TAG["Value"] for t in tags["TagList"])


def read_account(ssm: Any) -> AccountState:
    """The account's own baselines with every field (GetPatchBaseline each), whether patchwave
    manages them (their tags), and the patch-group registrations."""
    baselines: list[AccountBaseline] = []
    for item in _pages(
        ssm, "describe_patch_baselines", "BaselineIdentities", Filters=[{"Key": "OWNER", "Values": ["Self"]}]
    ):
        fields = _call(ssm, "get_patch_baseline", BaselineId=item["BaselineId"])
        fields.pop("ResponseMetadata", None)
        baselines.append(
            AccountBaseline(
                baseline_id=item["BaselineId"],
                name=item["BaselineName"],
                operating_system=item.get("OperatingSystem", "") or fields.get("OperatingSystem", ""),
                fields=fields,
                managed=_managed(ssm, item["BaselineId"]),
                default=bool(item.get("DefaultBaseline")),
            )
        )
    groups: dict[tuple[str, str], str] = {}
    for mapping in _pages(ssm, "describe_patch_groups", "Mappings"):
        identity = mapping["BaselineIdentity"]
        groups[(mapping["PatchGroup"], identity.get("OperatingSystem", ""))] = identity["BaselineId"]
    return AccountState(tuple(baselines), groups)


def _apply_one(ssm: Any, change: Change, wanted: BaselinesFile, ids: dict[str, str]) -> None:
    baseline = next((b for b in wanted.baselines if b.name == change.baseline), None)
    if change.kind in ("create", "update"):
        assert baseline is not None
        request = aws_request(baseline)
        if change.kind == "create":
            ids[baseline.name] = _call(ssm, "create_patch_baseline", **request)["BaselineId"]
        else:
            request.pop("OperatingSystem")
            # Replace=true: every field is sent, so nothing the config holds is left to null
            _call(ssm, "update_patch_baseline", BaselineId=ids[baseline.name], Replace=True, **request)
        tag = {"ResourceType": "PatchBaseline", "ResourceId": ids[baseline.name], "Tags": [MANAGED_TAG]}
        _call(ssm, "add_tags_to_resource", **tag)
    elif change.kind in ("register", "deregister"):
        method = f"{change.kind}_patch_baseline_for_patch_group"
        _call(ssm, method, BaselineId=ids[change.baseline], PatchGroup=change.patch_group)
    elif change.kind == "set_default":
        _call(ssm, "register_default_patch_baseline", BaselineId=ids[change.baseline])


def apply_changes(
    ssm: Any, desired: BaselinesFile, account: AccountState, changes: list[Change]
) -> list[str]:
    """Carry out planned changes in order; returns what was done, one line each. A failing call
    stops the apply: the error carries what was done and what was not."""
    ids = {b.name: b.baseline_id for b in account.baselines}
    done: list[str] = []
    for index, change in enumerate(changes):
        try:
            _apply_one(ssm, change, desired, ids)
        except BaselineCallFailed as exc:
            exc.done = done
            exc.not_done = [str(c) for c in changes[index:]]
            raise
        done.append(str(change))
    return done


def export(ssm: Any) -> dict[str, Any]:
    """The account's own baselines as a baselines.yaml document, every field included."""
    account = read_account(ssm)
    groups_of: dict[str, list[str]] = {}
    for (group, _), baseline_id in account.groups.items():
        groups_of.setdefault(baseline_id, []).append(group)
    entries = [from_aws(b.fields, groups_of.get(b.baseline_id, []), b.default) for b in account.baselines]
    return {"baselines": entries}
