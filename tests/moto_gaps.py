"""Filling moto's gaps for baselines, client-side, after botocore validated each request.

moto 5 has no GetPatchBaseline, UpdatePatchBaseline, RegisterDefaultPatchBaseline or
DescribePatchGroups, and AddTagsToResource on a PatchBaseline fails there (InvalidResourceId):
so the whole of an account's baselines is answered here, with the semantics a real account
has (``BaselineAccount``)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import botocore.loaders


def _stash(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    context["ledger_params"] = dict(params)


class BaselineAccount:
    """An account's patch baselines as Systems Manager keeps them, answering every baseline call
    client-side after botocore validated the request (moto has no GetPatchBaseline,
    UpdatePatchBaseline, RegisterDefaultPatchBaseline or DescribePatchGroups).

    What a real account does and a kind double would not: UpdatePatchBaseline with Replace=true
    sets every optional field it is not sent to null; an unknown baseline id is
    DoesNotExistException; ``fail`` makes one operation answer an AWS error."""

    # what UpdatePatchBaseline can set, from the service model (not from patchwave's own list)
    OPTIONAL = tuple(
        name
        for name in botocore.loaders.Loader().load_service_model("ssm", "service-2")["shapes"][
            "UpdatePatchBaselineRequest"
        ]["members"]
        if name not in ("BaselineId", "Replace")
    )
    OPERATIONS = (
        "CreatePatchBaseline",
        "GetPatchBaseline",
        "UpdatePatchBaseline",
        "DescribePatchBaselines",
        "RegisterPatchBaselineForPatchGroup",
        "DeregisterPatchBaselineForPatchGroup",
        "DescribePatchGroups",
        "RegisterDefaultPatchBaseline",
        "AddTagsToResource",
        "ListTagsForResource",
    )

    def __init__(self) -> None:
        self.baselines: dict[str, dict[str, Any]] = {}
        self.groups: dict[tuple[str, str], str] = {}  # (patch group, os) -> baseline id
        self.defaults: dict[str, str] = {}
        self.tags: dict[str, dict[str, str]] = {}
        self.fail: dict[str, tuple[str, str]] = {}  # operation -> (error code, message)
        self.calls: list[str] = []
        self._next = 0

    def install(self, session: Any) -> None:
        # on the generic event, so patchwave's call counter (registered first there) still counts
        session.events.register("before-parameter-build.ssm.*", _stash)
        session.events.register("before-call", self._dispatch)

    def _dispatch(self, model: Any, context: dict[str, Any], **_: Any) -> Any:
        service = model.service_model.service_name
        if service == "sts" and model.name == "GetCallerIdentity":
            return SimpleNamespace(status_code=200, headers={}), {
                "Account": "123456789012",
                "Arn": "arn:aws:iam::123456789012:user/baselines",
                "UserId": "X",
            }
        if service == "ssm" and model.name in self.OPERATIONS:
            return self._answer(model, context)
        return None

    def _answer(self, model: Any, context: dict[str, Any], **_: Any) -> Any:
        params = context["ledger_params"]
        name = model.name
        if name in ("AddTagsToResource", "ListTagsForResource") and params["ResourceType"] != "PatchBaseline":
            return None
        self.calls.append(name)
        if name in self.fail:
            code, message = self.fail[name]
            return SimpleNamespace(status_code=400, headers={}), {
                "Error": {"Code": code, "Message": message},
                "ResponseMetadata": {"HTTPStatusCode": 400},
            }
        try:
            body = getattr(self, f"_{name}")(params)
        except KeyError as exc:
            return SimpleNamespace(status_code=400, headers={}), {
                "Error": {"Code": "DoesNotExistException", "Message": f"{exc.args[0]} does not exist"},
                "ResponseMetadata": {"HTTPStatusCode": 400},
            }
        return SimpleNamespace(status_code=200, headers={}), body

    def _baseline(self, baseline_id: str) -> dict[str, Any]:
        if baseline_id not in self.baselines:
            raise KeyError(baseline_id)
        return self.baselines[baseline_id]

    def _CreatePatchBaseline(self, params: dict[str, Any]) -> dict[str, Any]:
        self._next += 1
        baseline_id = f"pb-{self._next:017x}"
        fields = {k: v for k, v in params.items() if k in self.OPTIONAL or k == "OperatingSystem"}
        fields.setdefault("OperatingSystem", "WINDOWS")
        fields.setdefault("ApprovedPatchesComplianceLevel", "UNSPECIFIED")
        fields.setdefault("RejectedPatchesAction", "ALLOW_AS_DEPENDENCY")
        self.baselines[baseline_id] = fields
        self.tags[baseline_id] = {t["Key"]: t["Value"] for t in params.get("Tags", [])}
        return {"BaselineId": baseline_id}

    def _GetPatchBaseline(self, params: dict[str, Any]) -> dict[str, Any]:
        baseline_id = params["BaselineId"]
        fields = self._baseline(baseline_id)
        groups = [g for (g, _), b in self.groups.items() if b == baseline_id]
        return {"BaselineId": baseline_id, **fields, "PatchGroups": groups}

    def _UpdatePatchBaseline(self, params: dict[str, Any]) -> dict[str, Any]:
        fields = self._baseline(params["BaselineId"])
        if params.get("Replace"):
            for key in self.OPTIONAL:
                if key != "Name" and key not in params:
                    fields.pop(key, None)  # Replace=true: what is not sent becomes null
        fields.update({k: v for k, v in params.items() if k in self.OPTIONAL})
        return {"BaselineId": params["BaselineId"], **fields}

    def _DescribePatchBaselines(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "BaselineIdentities": [
                {
                    "BaselineId": baseline_id,
                    "BaselineName": fields.get("Name", ""),
                    "OperatingSystem": fields["OperatingSystem"],
                    "BaselineDescription": fields.get("Description", ""),
                    "DefaultBaseline": self.defaults.get(fields["OperatingSystem"]) == baseline_id,
                }
                for baseline_id, fields in self.baselines.items()
            ]
        }

    def _RegisterPatchBaselineForPatchGroup(self, params: dict[str, Any]) -> dict[str, Any]:
        os_name = self._baseline(params["BaselineId"])["OperatingSystem"]
        self.groups[(params["PatchGroup"], os_name)] = params["BaselineId"]
        return {"BaselineId": params["BaselineId"], "PatchGroup": params["PatchGroup"]}

    def _DeregisterPatchBaselineForPatchGroup(self, params: dict[str, Any]) -> dict[str, Any]:
        os_name = self._baseline(params["BaselineId"])["OperatingSystem"]
        self.groups.pop((params["PatchGroup"], os_name), None)
        return {"BaselineId": params["BaselineId"], "PatchGroup": params["PatchGroup"]}

    def _DescribePatchGroups(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "Mappings": [
                {
                    "PatchGroup": group,
                    "BaselineIdentity": {"BaselineId": baseline_id, "OperatingSystem": os_name},
                }
                for (group, os_name), baseline_id in self.groups.items()
            ]
        }

    def _RegisterDefaultPatchBaseline(self, params: dict[str, Any]) -> dict[str, Any]:
        self.defaults[self._baseline(params["BaselineId"])["OperatingSystem"]] = params["BaselineId"]
        return {"BaselineId": params["BaselineId"]}

    def _AddTagsToResource(self, params: dict[str, Any]) -> dict[str, Any]:
        self._baseline(params["ResourceId"])
        self.tags.setdefault(params["ResourceId"], {}).update({t["Key"]: t["Value"] for t in params["Tags"]})
        return {}

    def _ListTagsForResource(self, params: dict[str, Any]) -> dict[str, Any]:
        tags = self.tags.get(params["ResourceId"], {})
        return {"TagList": [{"Key": k, "Value": v} for k, v in tags.items()]}


def _moto_ec2_lacks(operations: tuple[str, ...]) -> frozenset[str]:
    """The EC2 operations moto's EC2 responses do not implement (read from moto itself)."""
    from moto.ec2.responses import EC2Response

    def snake(name: str) -> str:
        return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")

    return frozenset(op for op in operations if not callable(getattr(EC2Response, snake(op), None)))


# Snapshot and rollback (issue 16): moto 5 answers CreateSnapshots, DescribeSnapshots and
# DeleteSnapshot (its snapshots are completed at once, never error), but has no replace-root-
# volume tasks: those are answered by the project's emulator (patchwave/sim/emulator_ec2_snapshots.py).
EC2_SNAPSHOT_GAPS = _moto_ec2_lacks(
    (
        "CreateSnapshots",
        "DescribeSnapshots",
        "DeleteSnapshot",
        "CreateReplaceRootVolumeTask",
        "DescribeReplaceRootVolumeTasks",
    )
)
