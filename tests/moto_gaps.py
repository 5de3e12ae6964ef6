"""Filling moto's gaps for baselines, client-side, after botocore validated each request:
- DescribePatchGroups is not implemented: answered from the registrations the client made;
- AddTagsToResource on a PatchBaseline always fails there (InvalidResourceId): the tags are
  kept here instead, and ListTagsForResource on a PatchBaseline answers from them."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any


class PatchGroupLedger:
    def __init__(self) -> None:
        self.groups: dict[str, tuple[str, str]] = {}  # patch group -> (baseline id, operating system)
        self.os_of: dict[str, str] = {}
        self.tags: dict[str, dict[str, str]] = {}

    def install(self, session: Any) -> None:
        session.events.register("before-parameter-build.ssm.*", self._stash)
        session.events.register("after-call.ssm.CreatePatchBaseline", self._created)
        session.events.register("after-call.ssm.RegisterPatchBaselineForPatchGroup", self._registered)
        session.events.register("after-call.ssm.DeregisterPatchBaselineForPatchGroup", self._deregistered)
        session.events.register("before-call.ssm.DescribePatchGroups", self._describe)
        session.events.register("before-call.ssm.AddTagsToResource", self._tag)
        session.events.register("before-call.ssm.ListTagsForResource", self._list_tags)

    @staticmethod
    def _stash(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["ledger_params"] = dict(params)

    def _created(self, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        self.os_of[parsed["BaselineId"]] = context["ledger_params"].get("OperatingSystem", "WINDOWS")

    def _registered(self, parsed: dict[str, Any], **_: Any) -> None:
        self.groups[parsed["PatchGroup"]] = (parsed["BaselineId"], self.os_of.get(parsed["BaselineId"], ""))

    def _deregistered(self, parsed: dict[str, Any], **_: Any) -> None:
        self.groups.pop(parsed["PatchGroup"], None)

    def _describe(self, **_: Any) -> Any:
        mappings = [
            {"PatchGroup": group, "BaselineIdentity": {"BaselineId": baseline_id, "OperatingSystem": os_name}}
            for group, (baseline_id, os_name) in self.groups.items()
        ]
        return SimpleNamespace(status_code=200, headers={}), {"Mappings": mappings}

    def _tag(self, context: dict[str, Any], **_: Any) -> Any:
        params = context["ledger_params"]
        if params["ResourceType"] != "PatchBaseline":
            return None
        self.tags.setdefault(params["ResourceId"], {}).update({t["Key"]: t["Value"] for t in params["Tags"]})
        return SimpleNamespace(status_code=200, headers={}), {}

    def _list_tags(self, context: dict[str, Any], **_: Any) -> Any:
        params = context["ledger_params"]
        if params["ResourceType"] != "PatchBaseline":
            return None
        tags = self.tags.get(params["ResourceId"], {})
        return SimpleNamespace(status_code=200, headers={}), {
            "TagList": [{"Key": k, "Value": v} for k, v in tags.items()]
        }
