"""How patchwave reaches an AWS account: ``config/aws.yaml`` (optional; defaults use the
standard credential chain and the environment's region)."""

from __future__ import annotations

import re

from pydantic import Field, model_validator

from patchwave.config.baselines import Strict

ARN = r"^arn:aws[a-z-]*:"
BUCKET = r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$"
REGION = r"^[a-z]{2}(-[a-z]+)+-\d$"
ACCOUNT = r"^\d{12}$"


class CommandOutput(Strict):
    """Where Run Command writes invocation output (both optional)."""

    s3_bucket: str | None = Field(default=None, pattern=BUCKET)
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
    s3_bucket: str | None = Field(default=None, pattern=BUCKET)
    s3_key_prefix: str = "patchwave/reports"


class Health(Strict):
    """Health checks after patching: ELB target health and/or an HTTP probe."""

    target_group_arns: list[str] = Field(default_factory=list)
    http_probe: str | None = Field(
        default=None, description="URL template, e.g. 'http://{private_ip}:8080/health'."
    )
    http_timeout_seconds: float = Field(default=5, gt=0, le=60)


class SharedState(Strict):
    """Stores shared by every worker (several machines): leases in DynamoDB, run ledgers and
    reports in S3, Prefect task results in an S3 result-storage block. Unset: local stores
    (SQLite leases, a local folder), right for one machine."""

    leases_table: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.\-]{3,255}$")
    stale_minutes: float | None = Field(
        default=None,
        gt=0,
        le=1440,
        description="A holder silent this long is dead and its leases free (default: "
        "PATCHWAVE_LEASE_STALE_MINUTES, else 15).",
    )
    bucket: str | None = Field(default=None, pattern=BUCKET)
    prefix: str = Field(default="patchwave/state", pattern=r"^[A-Za-z0-9_.\-/]+$")
    result_storage_block: str | None = Field(
        default=None,
        pattern=r"^[a-z0-9][a-z0-9\-]*$",
        description="Name of the prefect-aws S3Bucket block that keeps Prefect task results.",
    )


class Accounts(Strict):
    """Many accounts and regions: named, or discovered from an AWS Organizations OU."""

    ids: list[str] = Field(default_factory=list)
    organization_unit: str | None = Field(
        default=None, pattern=r"^(ou-[a-z0-9]{4,32}-[a-z0-9]{8,32}|r-[a-z0-9]{4,32})$"
    )
    exclude: list[str] = Field(default_factory=list)
    role_arn_pattern: str = Field(
        default="arn:aws:iam::{account}:role/patchwave-member",
        pattern=ARN + r"iam::\{account\}:role/[\w+=,.@\-/]+$",
        description="The role patchwave assumes in each member account; {account} is its id.",
    )
    role_arns: dict[str, str] = Field(
        default_factory=dict, description="Per account, overriding the pattern."
    )
    external_id: str | None = None
    regions: list[str] = Field(default_factory=list)
    canary: str | None = Field(default=None, pattern=ACCOUNT, description="This account runs alone, first.")
    wave_size: int = Field(
        default=0, ge=0, le=1000, description="Accounts per wave after the canary (0: all)."
    )
    max_concurrent: int = Field(
        default=2, ge=1, le=1000, description="Accounts patching at once (a global concurrency limit)."
    )
    concurrency_limit: str = Field(default="patchwave-accounts", pattern=r"^[a-z0-9][a-z0-9\-]*$")
    max_failed_targets: int = Field(
        default=0, ge=0, description="Account-regions allowed to fail before later waves are not started."
    )

    @model_validator(mode="after")
    def _known(self) -> Accounts:
        for listed in (*self.ids, *self.exclude, *self.role_arns):
            if not re.match(ACCOUNT, listed):
                raise ValueError(f"account id {listed!r} is not 12 digits")
        for region in self.regions:
            if not re.match(REGION, region):
                raise ValueError(f"region {region!r} is not a region name")
        for account, arn in self.role_arns.items():
            if not re.match(ARN + rf"iam::{account}:role/", arn):
                raise ValueError(f"role_arns: {arn!r} is not a role of account {account}")
        if not self.ids and not self.organization_unit:
            raise ValueError("accounts: name ids or an organization_unit")
        if not self.regions:
            raise ValueError("accounts: name at least one region")
        if self.canary and self.ids and self.canary not in self.ids:
            raise ValueError(f"canary {self.canary!r} is not one of ids")
        return self

    def role_for(self, account: str) -> str:
        return self.role_arns.get(account) or self.role_arn_pattern.format(account=account)


class AwsSettings(Strict):
    """``config/aws.yaml``."""

    region: str | None = Field(default=None, pattern=REGION)
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
    shared: SharedState = Field(default_factory=SharedState)
    accounts: Accounts | None = None

    @model_validator(mode="after")
    def _one_credential_source(self) -> AwsSettings:
        if self.prefect_credentials_block and (self.profile or self.role_arn):
            raise ValueError("use either prefect_credentials_block or profile/role_arn, not both")
        return self
