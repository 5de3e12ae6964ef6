"""Patches as Patch Manager describes them, and the built-in catalogs the simulator ships.

A patch carries the attributes approval-rule filters look at. Which filter keys exist depends
on the operating system, exactly as in Systems Manager (PRODUCT/CLASSIFICATION/SEVERITY on
Amazon Linux, RHEL and SUSE; PRODUCT/PRIORITY/SECTION on Ubuntu; PRODUCT/PRODUCT_FAMILY/
CLASSIFICATION/MSRC_SEVERITY on Windows).
"""

from __future__ import annotations

import datetime as dt
from functools import cache
from importlib import resources

import yaml
from pydantic import BaseModel, ConfigDict, Field

OPERATING_SYSTEMS = (
    "AMAZON_LINUX_2023",
    "AMAZON_LINUX_2",
    "REDHAT_ENTERPRISE_LINUX",
    "SUSE",
    "UBUNTU",
    "WINDOWS",
)

FILTER_KEYS: dict[str, frozenset[str]] = {
    "AMAZON_LINUX_2023": frozenset({"PRODUCT", "CLASSIFICATION", "SEVERITY"}),
    "AMAZON_LINUX_2": frozenset({"PRODUCT", "CLASSIFICATION", "SEVERITY"}),
    "REDHAT_ENTERPRISE_LINUX": frozenset({"PRODUCT", "CLASSIFICATION", "SEVERITY"}),
    "SUSE": frozenset({"PRODUCT", "CLASSIFICATION", "SEVERITY"}),
    "UBUNTU": frozenset({"PRODUCT", "PRIORITY", "SECTION"}),
    "WINDOWS": frozenset({"PRODUCT", "PRODUCT_FAMILY", "CLASSIFICATION", "MSRC_SEVERITY"}),
}

# Where the catalog of an operating system lives inside the package.
_CATALOG_FILES = {
    "AMAZON_LINUX_2023": "amazon_linux_2023.yaml",
    "AMAZON_LINUX_2": "amazon_linux_2.yaml",
    "REDHAT_ENTERPRISE_LINUX": "redhat.yaml",
    "SUSE": "suse.yaml",
    "UBUNTU": "ubuntu.yaml",
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
    packages: tuple[str, ...] = ()
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
        }[key]

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
