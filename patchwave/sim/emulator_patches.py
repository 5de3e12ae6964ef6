"""The AWS emulator's answers for named patches, from the simulated fleet and its catalogs:
DescribeAvailablePatches, DescribeInstancePatches, and S3 PutObject of the InstallOverrideList
YAML that SendCommand then points at (so the simulated agent installs what the file names).

A mixin: the emulator class that answers boto3 requests (``self.sim`` is its SimulatedFleet)
inherits it; handlers are ``_<Operation>(self, params)``, called after botocore validated the
request. Faithful to the service where the emulator could be kinder:
- a Linux key (ADVISORY_ID, CVE_ID, NAME...) without a PRODUCT filter is a ValidationException;
- Windows patches carry no CVE or advisory ids; Linux patches come one per package (Name, Arch);
- DescribeInstancePatches answers one instance, one entry per package (KBId name.arch) on
  Linux, per KB on Windows; InstalledTime is the epoch when not installed; pages of MaxResults.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import yaml
from botocore.exceptions import ClientError

from patchwave.baselines.catalog import OPERATING_SYSTEMS, Patch, builtin_catalog
from patchwave.sim.fleet import SimulatedFleet
from patchwave.window.named import package_name

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
PAGE = 50  # DescribeInstancePatches' page when MaxResults is not given (10 to 100)
LINUX_ONLY_KEYS = frozenset(
    {"ADVISORY_ID", "CVE_ID", "NAME", "ARCH", "BUGZILLA_ID", "EPOCH", "RELEASE", "REPOSITORY", "VERSION"}
)


def _invalid(operation: str, message: str) -> ClientError:
    return ClientError({"Error": {"Code": "ValidationException", "Message": message}}, operation)


def _entries(os_name: str, patch: Patch) -> list[dict[str, Any]]:
    released = dt.datetime.combine(patch.release_date, dt.time(), dt.UTC)
    if os_name == "WINDOWS":
        return [
            {
                "Id": f"{abs(hash(patch.id)) % 10**12:012d}-0000-0000-0000-000000000000",
                "KbNumber": patch.id,
                "Title": patch.title,
                "Product": patch.product,
                "ProductFamily": patch.product_family,
                "Classification": patch.classification,
                "MsrcSeverity": patch.msrc_severity,
                "ReleaseDate": released,
            }
        ]
    entries = []
    for package in patch.packages:
        name = package_name(package)
        entries.append(
            {
                "Name": name,
                "Arch": package[len(name) + 1 :] if name != package else "",
                "AdvisoryIds": [patch.id],
                "CVEIds": list(patch.cves),
                "Title": patch.title,
                "Product": patch.product,
                "Classification": patch.classification,
                "Severity": patch.severity,
                "ReleaseDate": released,
            }
        )
    return entries


def _keeps(filters: dict[str, list[str]], entry: dict[str, Any]) -> bool:
    fields = {
        "PRODUCT": [entry.get("Product")],
        "ADVISORY_ID": entry.get("AdvisoryIds", []),
        "CVE_ID": entry.get("CVEIds", []),
        "NAME": [entry.get("Name")],
        "PATCH_ID": [entry.get("KbNumber")],
        "CLASSIFICATION": [entry.get("Classification")],
        "SEVERITY": [entry.get("Severity")],
        "MSRC_SEVERITY": [entry.get("MsrcSeverity")],
    }
    return all(set(values) & set(fields.get(key, [])) for key, values in filters.items())


class NamedPatchesEmulation:
    sim: SimulatedFleet
    override_files: dict[str, str]

    def _DescribeAvailablePatches(self, params: dict[str, Any]) -> dict[str, Any]:
        filters = {f["Key"]: list(f["Values"]) for f in params.get("Filters", [])}
        if set(filters) & LINUX_ONLY_KEYS and "PRODUCT" not in filters:
            raise _invalid("DescribeAvailablePatches", "Linux patch filters need a PRODUCT filter")
        found = [
            entry
            for os_name in OPERATING_SYSTEMS
            for patch in builtin_catalog(os_name).patches
            for entry in _entries(os_name, patch)
            if _keeps(filters, entry)
        ]
        return {"Patches": found}

    def _DescribeInstancePatches(self, params: dict[str, Any]) -> dict[str, Any]:
        iid = params["InstanceId"]
        wanted: list[str] | None = None
        for item in params.get("Filters", []):
            if item["Key"] == "KBId":
                wanted = list(item["Values"])
        listed = self.sim.instance_patches_of([iid], wanted, self.sim.clock.now()).get(iid, [])
        entries: list[dict[str, Any]] = [
            {
                "Title": f"{kb_id}:{patch.title}" if kb_id != patch.id else patch.title or kb_id,
                "KBId": kb_id,
                "Classification": patch.classification,
                "Severity": patch.severity,
                "State": patch.state,
                "InstalledTime": patch.installed_time or EPOCH,  # required: the epoch when unknown
            }
            for patch in listed
            for kb_id in patch.kb_ids
            if wanted is None or kb_id in wanted
        ]
        entries.sort(key=lambda e: str(e["KBId"]))
        start = int(params.get("NextToken") or 0)
        size = int(params.get("MaxResults") or PAGE)
        answer: dict[str, Any] = {"Patches": entries[start : start + size]}
        if start + size < len(entries):
            answer["NextToken"] = str(start + size)
        return answer

    def _PutObject(self, params: dict[str, Any]) -> dict[str, Any]:
        if not hasattr(self, "override_files"):
            self.override_files = {}
        body = params["Body"]
        if hasattr(body, "read"):
            body = body.read()
        self.override_files[f"s3://{params['Bucket']}/{params['Key']}"] = (
            body.decode() if isinstance(body, bytes) else str(body)
        )
        return {"ETag": '"emulated"'}

    def override_ids(self, parameters: dict[str, list[str]]) -> tuple[str, ...]:
        """The install ids of the InstallOverrideList a SendCommand points at (from PutObject)."""
        urls = parameters.get("InstallOverrideList") or []
        if not urls:
            return ()
        text = getattr(self, "override_files", {}).get(urls[0])
        if text is None:
            raise _invalid("SendCommand", f"InstallOverrideList {urls[0]} cannot be read")
        return tuple(str(p["id"]) for p in yaml.safe_load(text)["patches"])
