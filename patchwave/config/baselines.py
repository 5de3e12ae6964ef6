"""Patch baselines as code: the shape of ``config/baselines.yaml``.

The fields mirror CreatePatchBaseline so that a baseline written here means exactly what it
would mean in Systems Manager, and so the AWS adapter can apply it without translation loss.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from patchwave.baselines.catalog import FILTER_KEYS, NO_APPROVAL_DELAY, OperatingSystem

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
ComplianceStatus = Literal["COMPLIANT", "NON_COMPLIANT"]


class Strict(BaseModel):
    """Every config model refuses unknown keys: a typo must never be silently ignored."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def first_repeated(names: Iterable[str]) -> str | None:
    """The first name seen twice, if any: windows, waves and rollouts are looked up by name."""
    seen: set[str] = set()
    for name in names:
        if name in seen:
            return name
        seen.add(name)
    return None


class ApprovalRule(Strict):
    """One rule: a filter group, when patches become approved, and their compliance level."""

    filters: dict[str, list[str]] = Field(
        description="Filter key (PRODUCT, CLASSIFICATION, SEVERITY, MSRC_SEVERITY, "
        "PRODUCT_FAMILY, PATCH_SET, PRIORITY, SECTION) to accepted values; '*' accepts any value."
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
        if self.approve_after_days is not None and self.approve_until_date is not None:
            raise ValueError("give exactly one of approve_after_days or approve_until_date, not both")
        return self

    @property
    def has_delay(self) -> bool:
        return self.approve_after_days is not None or self.approve_until_date is not None


class PatchSource(Strict):
    """An alternative package repository for Linux patching (Sources in CreatePatchBaseline)."""

    name: str = Field(pattern=r"^[a-zA-Z0-9_\-.]{3,50}$")
    products: list[str] = Field(min_length=1, max_length=20)
    configuration: str = Field(min_length=1, max_length=1024)


def _check_filters(where: str, os_name: str, filters: dict[str, list[str]]) -> None:
    allowed = FILTER_KEYS[os_name]
    for key in filters:
        if key not in allowed:
            raise ValueError(
                f"{where}: key {key!r} is not a filter for {os_name} (allowed: {', '.join(sorted(allowed))})"
            )


class Baseline(Strict):
    """A patch baseline: approval rules, explicit lists, and where it applies."""

    name: str = Field(pattern=r"^[a-zA-Z0-9_\-.]{3,128}$")
    operating_system: OperatingSystem
    description: str = ""
    global_filters: dict[str, list[str]] = Field(
        default_factory=dict, description="Filters every patch must pass (GlobalFilters)."
    )
    approval_rules: list[ApprovalRule] = Field(default_factory=list, max_length=10)
    approved_patches: list[str] = Field(default_factory=list)
    approved_patches_compliance_level: ComplianceLevel = "UNSPECIFIED"
    approved_patches_enable_non_security: bool = False
    rejected_patches: list[str] = Field(default_factory=list)
    rejected_patches_action: RejectedAction = "ALLOW_AS_DEPENDENCY"
    sources: list[PatchSource] = Field(default_factory=list, max_length=20)
    available_security_updates_compliance_status: ComplianceStatus | None = Field(
        default=None,
        description="Windows only: the state of security patches available but not approved.",
    )
    patch_groups: list[str] = Field(default_factory=list)
    default_for_os: bool = False

    @model_validator(mode="after")
    def _fits_the_os(self) -> Baseline:
        os_name = self.operating_system
        _check_filters("global_filters", os_name, self.global_filters)
        for index, rule in enumerate(self.approval_rules):
            _check_filters(f"approval_rules[{index}].filters", os_name, rule.filters)
            if os_name in NO_APPROVAL_DELAY and rule.has_delay:
                raise ValueError(
                    f"approval_rules[{index}]: {os_name} rules take no approve_after_days or "
                    "approve_until_date (Patch Manager approves Debian and Ubuntu patches on release)"
                )
            if os_name not in NO_APPROVAL_DELAY and not rule.has_delay:
                raise ValueError(
                    f"approval_rules[{index}]: give exactly one of approve_after_days or approve_until_date"
                )
        if os_name != "WINDOWS" and self.available_security_updates_compliance_status is not None:
            raise ValueError("available_security_updates_compliance_status applies to WINDOWS baselines only")
        if os_name == "WINDOWS" and self.sources:
            raise ValueError("sources (alternative repositories) apply to Linux baselines only")
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
