"""A window's (or a wave's) ``drain`` and ``hooks``: taking an instance out of service around
its install, and the operator's own steps before the install and after verification.

Off by default: a window without them runs exactly as before. A wave's own setting, when it
gives one, replaces the window's (a canary wave may drain while a batch wave of workers does
not).

- ``drain``: every target group the instance is registered in (or only the ones listed) stops
  sending it traffic (DeregisterTargets, then the group's deregistration delay), and an Auto
  Scaling member is put in Standby (EnterStandby) so that scale-in and health replacement leave
  it alone while it reboots; after verification it is put back and must read ``healthy`` in
  every group within ``healthy_timeout_minutes`` before it counts as patched.
- ``hooks``: ``pre_install`` runs after the drain and before the install (a failure means no
  install there), ``post_verify`` after verification and before the instance is put back. Each
  is a shell command (AWS-RunShellScript on Linux, AWS-RunPowerShellScript on Windows) or a
  named SSM document with its parameters, with a timeout; a failure counts toward max_errors.
"""

from __future__ import annotations

import re

from pydantic import Field, field_validator, model_validator

from patchwave.config.baselines import Strict

TARGET_GROUP_ARN = re.compile(
    r"^arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:\d{12}:targetgroup/[A-Za-z0-9-]{1,32}/[0-9a-f]{16}$"
)
DOCUMENT_NAME = re.compile(
    r"^([a-zA-Z0-9_\-.:/]{3,128}|arn:aws[a-z-]*:ssm:[a-z0-9-]+:\d{12}:document/[a-zA-Z0-9_\-.]{3,128})$"
)
PARAMETER_NAME = re.compile(r"^[a-zA-Z0-9_]{1,64}$")
SHELL_DOCUMENTS = frozenset({"AWS-RunShellScript", "AWS-RunPowerShellScript"})


class DrainSettings(Strict):
    enabled: bool = Field(default=False, description="Drain each instance around its install.")
    target_groups: list[str] = Field(
        default_factory=list,
        description="Only these ELB target groups (ARNs); empty: every group the instance is in.",
    )
    elb: bool = Field(default=True, description="Deregister from target groups (ELBv2).")
    auto_scaling: bool = Field(
        default=True, description="EnterStandby / ExitStandby for Auto Scaling members."
    )
    healthy_timeout_minutes: float = Field(
        default=10, ge=0.5, le=120, description="Back in service: healthy in every group by then."
    )
    max_delay_minutes: float = Field(
        default=60, ge=0, le=60, description="Longest deregistration delay waited (AWS allows 3600 s)."
    )

    @field_validator("target_groups")
    @classmethod
    def _arns(cls, arns: list[str]) -> list[str]:
        for arn in arns:
            if not TARGET_GROUP_ARN.match(arn):
                raise ValueError(f"{arn!r} is not a target group ARN")
        return arns


class Hook(Strict):
    """One step: ``command`` (shell or PowerShell, by the instance's platform) or ``document``
    (an SSM Command document, with ``parameters``)."""

    command: str | None = Field(default=None, min_length=1, max_length=4096)
    document: str | None = None
    parameters: dict[str, list[str]] = Field(default_factory=dict)
    timeout_seconds: int = Field(default=600, ge=30, le=28_800)

    @field_validator("document")
    @classmethod
    def _document(cls, name: str | None) -> str | None:
        if name is not None and not DOCUMENT_NAME.match(name):
            raise ValueError(f"{name!r} is not an SSM document name")
        if name in SHELL_DOCUMENTS:
            raise ValueError(f"{name}: give the script as 'command' (its platform picks the document)")
        return name

    @field_validator("parameters")
    @classmethod
    def _parameters(cls, parameters: dict[str, list[str]]) -> dict[str, list[str]]:
        for name in parameters:
            if not PARAMETER_NAME.match(name):
                raise ValueError(f"parameter name {name!r} is not valid")
        return parameters

    @model_validator(mode="after")
    def _one(self) -> Hook:
        if (self.command is None) == (self.document is None):
            raise ValueError("a hook takes exactly one of command or document")
        if self.command is not None and self.parameters:
            raise ValueError("parameters go with a document, not with a command")
        return self

    def describe(self) -> str:
        return f"document {self.document}" if self.document else f"command {self.command!r}"


class HookSettings(Strict):
    pre_install: Hook | None = Field(default=None, description="After the drain, before the install.")
    post_verify: Hook | None = Field(
        default=None, description="After verification, before the instance is put back."
    )

    @property
    def any(self) -> bool:
        return self.pre_install is not None or self.post_verify is not None
