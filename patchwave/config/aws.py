"""How patchwave reaches an AWS account: ``config/aws.yaml`` (optional; defaults use the
standard credential chain and the environment's region)."""

from __future__ import annotations

from pydantic import Field, model_validator

from patchwave.config.baselines import Strict

ARN = r"^arn:aws[a-z-]*:"


class CommandOutput(Strict):
    """Where Run Command writes invocation output (both optional)."""

    s3_bucket: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")
    s3_key_prefix: str = "patchwave/command-output"
    cloudwatch_log_group: str | None = None


class Notifications(Strict):
    """Run Command notifications to SNS (needs a service role SSM may assume) and the window
    summary published at the end of each run."""

    sns_topic_arn: str | None = Field(default=None, pattern=ARN + "sns:")
    service_role_arn: str | None = Field(default=None, pattern=ARN + "iam::")
    command_events: list[str] = Field(default_factory=lambda: ["Failed", "TimedOut"])

    @model_validator(mode="after")
    def _events(self) -> Notifications:
        allowed = {"All", "InProgress", "Success", "TimedOut", "Cancelled", "Failed"}
        for event in self.command_events:
            if event not in allowed:
                raise ValueError(f"command_events: {event!r} is not one of {sorted(allowed)}")
        return self


class Reports(Strict):
    s3_bucket: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")
    s3_key_prefix: str = "patchwave/reports"


class Health(Strict):
    """Health checks after patching: ELB target health and/or an HTTP probe."""

    target_group_arns: list[str] = Field(default_factory=list)
    http_probe: str | None = Field(
        default=None, description="URL template, e.g. 'http://{private_ip}:8080/health'."
    )
    http_timeout_seconds: float = Field(default=5, gt=0, le=60)


class AwsSettings(Strict):
    """``config/aws.yaml``."""

    region: str | None = Field(default=None, pattern=r"^[a-z]{2}(-[a-z]+)+-\d$")
    profile: str | None = None
    role_arn: str | None = Field(default=None, pattern=ARN + "iam::")
    external_id: str | None = None
    prefect_credentials_block: str | None = Field(
        default=None, description="Name of a prefect-aws AwsCredentials block."
    )
    document: str = "AWS-RunPatchBaseline"
    delivery_timeout_seconds: int = Field(default=600, ge=30, le=2_592_000)
    output: CommandOutput = Field(default_factory=CommandOutput)
    notifications: Notifications = Field(default_factory=Notifications)
    reports: Reports = Field(default_factory=Reports)
    install_override_bucket: str | None = Field(
        default=None, description="Where InstallOverrideList files go (default: output bucket)."
    )
    health: Health = Field(default_factory=Health)

    @model_validator(mode="after")
    def _one_credential_source(self) -> AwsSettings:
        if self.prefect_credentials_block and (self.profile or self.role_arn):
            raise ValueError("use either prefect_credentials_block or profile/role_arn, not both")
        return self
