"""Patches as Patch Manager describes them, and the built-in catalogs the simulator ships.

A patch carries the attributes approval-rule filters look at. Which filter keys exist depends
on the operating system, as the botocore service model lists them (DescribePatchProperties):
PRODUCT/CLASSIFICATION/SEVERITY on Amazon Linux 1, 2, 2023, RHEL and SUSE; PRODUCT/PRIORITY
(and SECTION, which the PatchFilter documentation gives Ubuntu) on Ubuntu; PRODUCT/PRIORITY on
Debian; PATCH_SET/PRODUCT/PRODUCT_FAMILY/CLASSIFICATION/MSRC_SEVERITY on Windows.

A patch also carries what an operator names it by: its advisory id (``id``), the CVEs it fixes
and its packages. What an InstallOverrideList names is the package with its architecture on
Linux (``openssl-libs.x86_64``) and the KB id on Windows: ``install_ids``.
"""

from __future__ import annotations

import datetime as dt
from functools import cache
from importlib import resources
from typing import Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field

# The operating systems Patch Manager names (the one list: the tuple is derived from the type).
OperatingSystem = Literal[
    "AMAZON_LINUX_2023",
    "AMAZON_LINUX_2",
    "AMAZON_LINUX",
    "REDHAT_ENTERPRISE_LINUX",
    "SUSE",
    "UBUNTU",
    "DEBIAN",
    "WINDOWS",
]
OPERATING_SYSTEMS: tuple[str, ...] = get_args(OperatingSystem)

FILTER_KEYS: dict[str, frozenset[str]] = {
    "AMAZON_LINUX_2023": frozenset({"PRODUCT", "CLASSIFICATION", "SEVERITY"}),
    "AMAZON_LINUX_2": frozenset({"PRODUCT", "CLASSIFICATION", "SEVERITY"}),
    "AMAZON_LINUX": frozenset({"PRODUCT", "CLASSIFICATION", "SEVERITY"}),
    "REDHAT_ENTERPRISE_LINUX": frozenset({"PRODUCT", "CLASSIFICATION", "SEVERITY"}),
    "SUSE": frozenset({"PRODUCT", "CLASSIFICATION", "SEVERITY"}),
    "UBUNTU": frozenset({"PRODUCT", "PRIORITY", "SECTION"}),
    "DEBIAN": frozenset({"PRODUCT", "PRIORITY"}),
    "WINDOWS": frozenset({"PATCH_SET", "PRODUCT", "PRODUCT_FAMILY", "CLASSIFICATION", "MSRC_SEVERITY"}),
}
# Operating systems whose approval rules take no delay (ApproveAfterDays / ApproveUntilDate are
# "not supported for Debian Server or Ubuntu Server", PatchRule in the service model).
NO_APPROVAL_DELAY = frozenset({"UBUNTU", "DEBIAN"})

# Where the catalog of an operating system lives inside the package.
_CATALOG_FILES = {
    "AMAZON_LINUX_2023": "amazon_linux_2023.yaml",
    "AMAZON_LINUX_2": "amazon_linux_2.yaml",
    "AMAZON_LINUX": "amazon_linux.yaml",
    "REDHAT_ENTERPRISE_LINUX": "redhat.yaml",
    "SUSE": "suse.yaml",
    "UBUNTU": "ubuntu.yaml",
    "DEBIAN": "debian.yaml",
    "WINDOWS": "windows.yaml",
}


class Patch(BaseModel):
    """One patch (a Linux advisory or a Windows KB) with what approval rules filter on."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    title: str
    product: str
    classification: str = ""
    severity: str = ""
    msrc_severity: str = ""
    product_family: str = ""
    priority: str = ""
    section: str = ""
    patch_set: str = "OS"  # Windows: OS | APPLICATION
    packages: tuple[str, ...] = ()
    cves: tuple[str, ...] = ()
    release_date: dt.date
    security: bool = True
    reboot_required: bool = False
    depends_on: tuple[str, ...] = ()

    def attribute(self, key: str) -> str:
        """The value an approval-rule filter key looks at."""
        return {
            "PRODUCT": self.product,
            "CLASSIFICATION": self.classification,
            "SEVERITY": self.severity,
            "MSRC_SEVERITY": self.msrc_severity,
            "PRODUCT_FAMILY": self.product_family,
            "PRIORITY": self.priority,
            "SECTION": self.section,
            "PATCH_SET": self.patch_set,
        }[key]

    def install_ids(self) -> tuple[str, ...]:
        """What an InstallOverrideList names to install this patch: its packages on Linux
        (name.arch), the KB id on Windows (a Windows patch has no packages)."""
        return self.packages or (self.id,)

    def names(self) -> tuple[str, ...]:
        """Names an approved/rejected pattern may match: the id and each package."""
        return (self.id, *self.packages)


class Catalog(BaseModel):
    """The patches published for one operating system."""

    model_config = ConfigDict(extra="forbid")

    operating_system: str
    patches: list[Patch] = Field(default_factory=list)


@cache
def builtin_catalog(operating_system: str) -> Catalog:
    """The realistic catalog shipped for an operating system (read once per process)."""
    name = _CATALOG_FILES[operating_system]
    text = resources.files("patchwave").joinpath("catalogs", name).read_text()
    return Catalog.model_validate(yaml.safe_load(text))
