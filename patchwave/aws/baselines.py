"""Patch baselines in the account: read, apply changes, export.

Mutating calls (IAM permission = ssm:<name>): CreatePatchBaseline, UpdatePatchBaseline,
AddTagsToResource, RegisterPatchBaselineForPatchGroup, DeregisterPatchBaselineForPatchGroup,
RegisterDefaultPatchBaseline.
"""

from __future__ import annotations

from typing import Any

from patchwave.baselines.sync import (
    AccountBaseline,
    AccountState,
    Change,
    aws_request,
    from_aws,
    managed_description,
)
from patchwave.config.baselines import BaselinesFile

MANAGED_TAG = {"Key": "managed-by", "Value": "patchwave"}


def read_account(ssm: Any) -> AccountState:
    baselines: list[AccountBaseline] = []
    paginator = ssm.get_paginator("describe_patch_baselines")
    for page in paginator.paginate(Filters=[{"Key": "OWNER", "Values": ["Self"]}]):
        for item in page["BaselineIdentities"]:
            baselines.append(
                AccountBaseline(
                    baseline_id=item["BaselineId"],
                    name=item["BaselineName"],
                    operating_system=item.get("OperatingSystem", ""),
                    description=item.get("BaselineDescription", ""),
                    default=bool(item.get("DefaultBaseline")),
                )
            )
    groups: dict[tuple[str, str], str] = {}
    for page in ssm.get_paginator("describe_patch_groups").paginate():
        for mapping in page["Mappings"]:
            identity = mapping["BaselineIdentity"]
            groups[(mapping["PatchGroup"], identity.get("OperatingSystem", ""))] = identity["BaselineId"]
    return AccountState(tuple(baselines), groups)


def apply_changes(
    ssm: Any, desired: BaselinesFile, account: AccountState, changes: list[Change]
) -> list[str]:
    """Carry out planned changes in order; returns what was done, one line each."""
    wanted = {b.name: b for b in desired.baselines}
    ids = {b.name: b.baseline_id for b in account.baselines}
    done: list[str] = []
    for change in changes:
        baseline = wanted.get(change.baseline)
        if change.kind == "create":
            assert baseline is not None
            request = aws_request(baseline) | {"Description": managed_description(baseline)}
            ids[baseline.name] = ssm.create_patch_baseline(**request)["BaselineId"]
            ssm.add_tags_to_resource(
                ResourceType="PatchBaseline", ResourceId=ids[baseline.name], Tags=[MANAGED_TAG]
            )
        elif change.kind == "update":
            assert baseline is not None
            request = aws_request(baseline) | {"Description": managed_description(baseline)}
            request.pop("OperatingSystem")
            if "ApprovalRules" not in request:
                request["ApprovalRules"] = {"PatchRules": []}
            ssm.update_patch_baseline(BaselineId=ids[baseline.name], Replace=True, **request)
            ssm.add_tags_to_resource(
                ResourceType="PatchBaseline", ResourceId=ids[baseline.name], Tags=[MANAGED_TAG]
            )
        elif change.kind in ("register", "deregister"):
            group = change.detail.split("'")[1]
            call = (
                ssm.register_patch_baseline_for_patch_group
                if change.kind == "register"
                else ssm.deregister_patch_baseline_for_patch_group
            )
            call(BaselineId=ids[change.baseline], PatchGroup=group)
        elif change.kind == "set_default":
            ssm.register_default_patch_baseline(BaselineId=ids[change.baseline])
        done.append(str(change))
    return done


def export(ssm: Any) -> dict[str, Any]:
    """The account's own baselines as a baselines.yaml document."""
    account = read_account(ssm)
    groups_of: dict[str, list[str]] = {}
    for (group, _), baseline_id in account.groups.items():
        groups_of.setdefault(baseline_id, []).append(group)
    entries = []
    for identity in account.baselines:
        item = ssm.get_patch_baseline(BaselineId=identity.baseline_id)
        entries.append(from_aws(item, groups_of.get(identity.baseline_id, []), identity.default))
    return {"baselines": entries}
