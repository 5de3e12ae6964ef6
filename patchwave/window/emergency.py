"""Emergency patching: what an operator asks for by hand, and the window it becomes.

The request is a pydantic model, so the Prefect UI shows it as a form and refuses bad values
before the run starts. It becomes an ordinary window (canary first unless told otherwise), so
everything a scheduled window guarantees holds for it too.
"""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from patchwave.config.baselines import Strict
from patchwave.config.windows import RebootMode, Targets, Window, check_rate
from patchwave.window.named import check_names


class EmergencyRequest(Strict):
    reason: str = Field(min_length=3, max_length=500, description="Why: recorded in the report.")
    instance_ids: list[str] = Field(default_factory=list, description="Patch these instances...")
    tags: dict[str, list[str]] = Field(default_factory=dict, description="...or those with these tags.")
    patches: list[str] = Field(
        default_factory=list,
        description="Install only these, approved or not (InstallOverrideList): advisory ids "
        "(ALAS..., RHSA..., USN..., SUSE-SU...), CVE ids, KB ids or package names; empty: what the "
        "baseline approves.",
    )
    canary: bool = Field(default=True, description="Patch one canary instance first.")
    canary_count: int = Field(default=1, ge=1, le=100)
    max_concurrency: str = Field(default="10%", description='"N" or "N%" after the canary.')
    max_errors: str = Field(default="0", description='"N" or "N%" tolerated after the canary.')
    reboot: RebootMode = "if_needed"
    duration_hours: int = Field(default=8, ge=1, le=24)
    override_freeze: str = Field(
        default="",
        max_length=500,
        description="Run even during a freeze (blackout or closed Change Calendar): why. Recorded in "
        "the report; empty: a freeze refuses the run.",
    )

    @field_validator("override_freeze")
    @classmethod
    def _override_reason(cls, reason: str) -> str:
        if reason and len(reason) < 3:
            raise ValueError(f"{reason!r}: give the reason for overriding the freeze (3 characters or more)")
        return reason

    @field_validator("patches")
    @classmethod
    def _named(cls, patches: list[str]) -> list[str]:
        return check_names(patches)

    @model_validator(mode="after")
    def _valid(self) -> EmergencyRequest:
        check_rate(self.max_concurrency)
        check_rate(self.max_errors)
        if not self.instance_ids and not self.tags:
            raise ValueError("name the targets: instance_ids or tags")
        Targets(tags=self.tags, instance_ids=self.instance_ids)  # same rules as windows.yaml
        return self


def emergency_window(request: EmergencyRequest) -> Window:
    waves: list[dict[str, object]] = []
    if request.canary:
        waves.append(
            {
                "name": "canary",
                "select": {"count": request.canary_count},
                "max_concurrency": "1",
                "max_errors": "0",
            }
        )
    waves.append(
        {"name": "emergency", "max_concurrency": request.max_concurrency, "max_errors": request.max_errors}
    )
    return Window.model_validate(
        {
            "name": "emergency",
            "description": request.reason,
            "duration_hours": request.duration_hours,
            "cutoff_hours": 0,
            "targets": {"tags": request.tags, "instance_ids": request.instance_ids},
            "reboot": request.reboot,
            "install_override": request.patches,
            "waves": waves,
        }
    )
