"""Patch windows as code: the shape of ``config/windows.yaml``.

A window is what a Systems Manager maintenance window plus a Run Command task would be, with
ordered waves instead of one task: targets, schedule, duration and cutoff, operation, reboot
option, and per-wave rate control.
"""

from __future__ import annotations

import re
from typing import Literal

from croniter import croniter
from pydantic import Field, field_validator, model_validator

from patchwave.config.baselines import Strict, first_repeated
from patchwave.config.drain import DrainSettings, HookSettings
from patchwave.config.gates import Freezes, check_alarm_names, check_timezone
from patchwave.config.snapshots import SnapshotSettings
from patchwave.window.named import check_names
from patchwave.window.ratespec import parse_rate

PATCH_GROUP_TAG_KEYS = ("Patch Group", "PatchGroup")
INSTANCE_ID = re.compile(r"^(i-[0-9a-f]{8}([0-9a-f]{9})?|mi-[0-9a-f]{17})$")
NAME = r"^[a-zA-Z0-9_.\-]{1,64}$"

RebootMode = Literal["if_needed", "never", "controlled"]
Operation = Literal["Install", "Scan"]


def check_tag_key(key: str) -> str:
    """Tag keys are case-sensitive; a near miss of ``Patch Group`` is a mistake, not a tag."""
    for proper in PATCH_GROUP_TAG_KEYS:
        if (
            key not in PATCH_GROUP_TAG_KEYS
            and key.replace(" ", "").lower() == proper.replace(" ", "").lower()
        ):
            raise ValueError(f"tag key {key!r} must be spelled {proper!r} (tag keys are case-sensitive)")
    if not key or len(key) > 128:
        raise ValueError(f"tag key {key!r} must be 1 to 128 characters")
    return key


def check_instance_ids(ids: list[str]) -> list[str]:
    for instance_id in ids:
        if not INSTANCE_ID.match(instance_id):
            raise ValueError(f"{instance_id!r} is not an instance id (i-… or mi-…)")
    return ids


def check_rate(value: str) -> str:
    parse_rate(value)
    return value


class Schedule(Strict):
    """When the window opens: a cron expression in an IANA time zone."""

    cron: str = Field(description="Five-field cron expression, e.g. '0 3 * * SUN'.")
    timezone: str = Field(default="UTC", description="IANA time zone, e.g. 'Europe/Paris'.")

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, cron: str) -> str:
        if len(cron.split()) != 5 or not croniter.is_valid(cron):
            raise ValueError("not a valid five-field cron expression")
        return cron

    @field_validator("timezone")
    @classmethod
    def _valid_timezone(cls, timezone: str) -> str:
        return check_timezone(timezone)


class Targets(Strict):
    """Which managed instances a window covers: every criterion given must match."""

    tags: dict[str, list[str]] = Field(default_factory=dict)
    patch_groups: list[str] = Field(default_factory=list)
    instance_ids: list[str] = Field(default_factory=list)

    @field_validator("tags")
    @classmethod
    def _tags(cls, tags: dict[str, list[str]]) -> dict[str, list[str]]:
        for key, values in tags.items():
            check_tag_key(key)
            if not values:
                raise ValueError(f"tag {key!r} lists no values")
        return tags

    @field_validator("instance_ids")
    @classmethod
    def _ids(cls, ids: list[str]) -> list[str]:
        return check_instance_ids(ids)

    @model_validator(mode="after")
    def _something(self) -> Targets:
        if not (self.tags or self.patch_groups or self.instance_ids):
            raise ValueError("targets need tags, patch_groups or instance_ids")
        return self


class WaveSelector(Strict):
    """Which of the remaining targets a wave takes: by tag, by count, or by percentage."""

    tags: dict[str, list[str]] | None = None
    count: int | None = Field(default=None, ge=1, le=1_000_000)
    percent: float | None = Field(default=None, gt=0, le=100)
    instance_ids: list[str] | None = None

    @field_validator("tags")
    @classmethod
    def _tags(cls, tags: dict[str, list[str]] | None) -> dict[str, list[str]] | None:
        for key in tags or {}:
            check_tag_key(key)
        return tags

    @field_validator("instance_ids")
    @classmethod
    def _ids(cls, ids: list[str] | None) -> list[str] | None:
        return None if ids is None else check_instance_ids(ids)

    @model_validator(mode="after")
    def _exactly_one(self) -> WaveSelector:
        given = [x for x in (self.tags, self.count, self.percent, self.instance_ids) if x is not None]
        if len(given) != 1:
            raise ValueError("a selector takes exactly one of tags, count, percent or instance_ids")
        return self


class Wave(Strict):
    """One stage of a window, with its own rate control."""

    name: str = Field(pattern=NAME)
    select: WaveSelector | None = Field(
        default=None, description="Omit for 'the rest'; the last wave always takes the rest."
    )
    max_concurrency: str = Field(default="10%", description='"N" or "N%" of the wave.')
    max_errors: str = Field(default="0", description='"N" or "N%" of the wave tolerated.')
    require_approval: bool = False
    alarms: list[str] = Field(
        default_factory=list, description="CloudWatch alarms that halt this wave when one is in ALARM."
    )
    drain: DrainSettings | None = Field(
        default=None, description="Replaces the window's drain for this wave."
    )
    hooks: HookSettings | None = Field(default=None, description="Replaces the window's hooks for this wave.")

    @field_validator("alarms")
    @classmethod
    def _alarms(cls, names: list[str]) -> list[str]:
        return check_alarm_names(names)

    @field_validator("max_concurrency", "max_errors")
    @classmethod
    def _rate(cls, value: str) -> str:
        return check_rate(value)

    @field_validator("max_concurrency")
    @classmethod
    def _positive(cls, value: str) -> str:
        if parse_rate(value)[0] == 0:
            raise ValueError("max_concurrency must be at least 1 (or 1%)")
        return value


class Timeouts(Strict):
    """Deadlines so that no run waits forever."""

    install_minutes: int = Field(default=120, ge=1, le=2880)
    scan_minutes: int = Field(default=30, ge=1, le=600)
    reboot_minutes: int = Field(default=20, ge=1, le=600)


class Pacing(Strict):
    """How often the runner looks at the fleet. The defaults suit fleets of hundreds to tens of
    thousands (each look costs API calls); a lab of a few instances, whose commands take seconds,
    can look sooner. Bounded so no setting floods the API or stalls a wave."""

    min_poll_seconds: float = Field(default=5, ge=1, le=60)
    max_poll_seconds: float = Field(default=60, ge=5, le=600)
    verify_batch_seconds: float = Field(
        default=60, ge=0, le=600, description="How long finished installs wait to share one verifying Scan."
    )
    reboot_grace_seconds: float = Field(
        default=30, ge=0, le=300, description="Before the first look at a rebooting instance."
    )

    @model_validator(mode="after")
    def _ordered(self) -> Pacing:
        if self.min_poll_seconds > self.max_poll_seconds:
            raise ValueError("min_poll_seconds must not exceed max_poll_seconds")
        return self


class Window(Strict):
    """A scheduled patch window."""

    name: str = Field(pattern=NAME)
    description: str = ""
    schedule: Schedule | None = Field(default=None, description="Omit for a window run only by hand.")
    duration_hours: int = Field(default=4, ge=1, le=24)
    cutoff_hours: int = Field(default=1, ge=0, le=23)
    targets: Targets
    operation: Operation = "Install"
    reboot: RebootMode = "if_needed"
    reboot_concurrency: str = Field(default="10%", description="Controlled reboots at once.")
    install_override: list[str] = Field(
        default_factory=list,
        description="Install only these (InstallOverrideList), approved or not: advisory ids "
        "(ALAS..., RHSA..., USN..., SUSE-SU...), CVE ids, KB ids or package names; resolved per "
        "operating system to packages (name.arch) or KB ids before the run touches an instance.",
    )
    health_check: bool = True
    count_undelivered_as_errors: bool = Field(
        default=False,
        description="Count invocations that never ran (Undeliverable, Delivery Timed Out, AccessDenied, "
        "InvalidPlatform, Terminated) toward max_errors; Run Command does not.",
    )
    patch_lists: Literal["all", "failed", "none"] = Field(
        default="failed",
        description="Which instances' patches go in the report (missing before, as they stand after): "
        "'all' the waves sent a command to, 'failed' only those that did not end patched, 'none'. "
        "One DescribeInstancePatches call per instance, so 'all' doubles a large window's API calls.",
    )
    timeouts: Timeouts = Field(default_factory=Timeouts)
    pacing: Pacing = Field(default_factory=Pacing)
    approval_timeout_minutes: float = Field(
        default=60, ge=0.05, le=10_080, description="How long a wave waits for approval before aborting."
    )
    overlap_wait_minutes: int = Field(
        default=30, ge=0, le=1440, description="How long to wait for instances another run is patching."
    )
    alarms: list[str] = Field(
        default_factory=list, description="CloudWatch alarms every wave of this window watches."
    )
    freezes: Freezes = Field(default_factory=Freezes, description="When this window must not start.")
    snapshot: SnapshotSettings = Field(
        default_factory=SnapshotSettings, description="EBS snapshots before each install (rollback)."
    )
    drain: DrainSettings = Field(
        default_factory=DrainSettings, description="Out of service around each install (ELB, Auto Scaling)."
    )
    hooks: HookSettings = Field(
        default_factory=HookSettings, description="Pre-install and post-verify steps."
    )
    waves: list[Wave] = Field(min_length=1)

    @field_validator("alarms")
    @classmethod
    def _alarms(cls, names: list[str]) -> list[str]:
        return check_alarm_names(names)

    @field_validator("reboot_concurrency")
    @classmethod
    def _reboot_rate(cls, value: str) -> str:
        return check_rate(value)

    @field_validator("install_override")
    @classmethod
    def _named_patches(cls, names: list[str]) -> list[str]:
        return check_names(names)

    @model_validator(mode="after")
    def _coherent(self) -> Window:
        if self.cutoff_hours >= self.duration_hours:
            raise ValueError(
                f"cutoff_hours {self.cutoff_hours} must be less than duration_hours {self.duration_hours}"
            )
        repeated = first_repeated(wave.name for wave in self.waves)
        if repeated is not None:
            raise ValueError(f"waves: two waves are named {repeated!r}")
        return self


class WindowsFile(Strict):
    """``config/windows.yaml``."""

    windows: list[Window] = Field(default_factory=list)
    freezes: Freezes = Field(default_factory=Freezes, description="Freezes that hold for every window.")

    @model_validator(mode="after")
    def _unique(self) -> WindowsFile:
        repeated = first_repeated(window.name for window in self.windows)
        if repeated is not None:
            raise ValueError(f"windows: two windows are named {repeated!r}")
        return self

    def get(self, name: str) -> Window:
        for window in self.windows:
            if window.name == name:
                return window
        raise KeyError(name)
