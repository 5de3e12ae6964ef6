"""Patch baselines as code: the shape of ``config/baselines.yaml``.

The fields mirror CreatePatchBaseline so that a baseline written here means exactly what it
would mean in Systems Manager, and so the AWS adapter can apply it without translation loss.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from patchwave.baselines.catalog import FILTER_KEYS, OPERATING_SYSTEMS

OperatingSystem = Literal[
    "AMAZON_LINUX_2023",
    "AMAZON_LINUX_2",
    "REDHAT_ENTERPRISE_LINUX",
    "SUSE",
    "UBUNTU",
    "WINDOWS",
]
ComplianceLevel = Literal["CRITICAL", "HIGH", "MEDIUM", "LOW", "INFORMATIONAL", "UNSPECIFIED"]
COMPLIANCE_LEVELS: tuple[str, ...] = (
    "CRITICAL",
    "HIGH",
    "MEDIUM",
    "LOW",
    "INFORMATIONAL",
    "UNSPECIFIED",
)
RejectedAction = Literal["ALLOW_AS_DEPENDENCY", "BLOCK"]

assert set(OPERATING_SYSTEMS) == set(OperatingSystem.__args__)  # type: ignore[attr-defined]


class Strict(BaseModel):
    """Every config model refuses unknown keys: a typo must never be silently ignored."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ApprovalRule(Strict):
    """One rule: a filter group, when patches become approved, and their compliance level."""

    filters: dict[str, list[str]] = Field(
        description="Filter key (PRODUCT, CLASSIFICATION, SEVERITY, MSRC_SEVERITY, "
        "PRODUCT_FAMILY, PRIORITY, SECTION) to accepted values; '*' accepts any value."
    )
    approve_after_days: int | None = Field(default=None, ge=0, le=360)
    approve_until_date: dt.date | None = None
    compliance_level: ComplianceLevel = "UNSPECIFIED"
    enable_non_security: bool = False

    @field_validator("filters")
    @classmethod
    def _filters_have_values(cls, filters: dict[str, list[str]]) -> dict[str, list[str]]:
        if not filters:
            raise ValueError("a rule needs at least one filter (use PRODUCT: ['*'] for all)")
        for key, values in filters.items():
            if not values:
                raise ValueError(f"filter {key} has no values")
        return filters

    @model_validator(mode="after")
    def _one_approval_clock(self) -> ApprovalRule:
        if (self.approve_after_days is None) == (self.approve_until_date is None):
            raise ValueError("give exactly one of approve_after_days or approve_until_date")
        return self


class Baseline(Strict):
    """A patch baseline: approval rules, explicit lists, and where it applies."""

    name: str = Field(pattern=r"^[a-zA-Z0-9_\-.]{3,128}$")
    operating_system: OperatingSystem
    description: str = ""
    approval_rules: list[ApprovalRule] = Field(default_factory=list, max_length=10)
    approved_patches: list[str] = Field(default_factory=list)
    approved_patches_compliance_level: ComplianceLevel = "UNSPECIFIED"
    approved_patches_enable_non_security: bool = False
    rejected_patches: list[str] = Field(default_factory=list)
    rejected_patches_action: RejectedAction = "ALLOW_AS_DEPENDENCY"
    patch_groups: list[str] = Field(default_factory=list)
    default_for_os: bool = False

    @model_validator(mode="after")
    def _filters_fit_the_os(self) -> Baseline:
        allowed = FILTER_KEYS[self.operating_system]
        for index, rule in enumerate(self.approval_rules):
            for key in rule.filters:
                if key not in allowed:
                    raise ValueError(
                        f"approval_rules[{index}].filters: key {key!r} is not a filter for "
                        f"{self.operating_system} (allowed: {', '.join(sorted(allowed))})"
                    )
        return self


class BaselinesFile(Strict):
    """``config/baselines.yaml``."""

    baselines: list[Baseline] = Field(default_factory=list)

    @model_validator(mode="after")
    def _registrations_are_unambiguous(self) -> BaselinesFile:
        names: set[str] = set()
        group_owner: dict[tuple[str, str], str] = {}
        default_owner: dict[str, str] = {}
        for index, baseline in enumerate(self.baselines):
            if baseline.name in names:
                raise ValueError(f"baselines[{index}].name {baseline.name!r} is used twice")
            names.add(baseline.name)
            for group in baseline.patch_groups:
                key = (group, baseline.operating_system)
                if key in group_owner:
                    raise ValueError(
                        f"baselines[{index}].patch_groups: patch group {group!r} is already "
                        f"registered to {group_owner[key]!r} for {baseline.operating_system}"
                    )
                group_owner[key] = baseline.name
            if baseline.default_for_os:
                if baseline.operating_system in default_owner:
                    raise ValueError(
                        f"baselines[{index}].default_for_os: {baseline.operating_system} already "
                        f"has default baseline {default_owner[baseline.operating_system]!r}"
                    )
                default_owner[baseline.operating_system] = baseline.name
        return self
