"""The boto3 session and clients: credentials, region, retries, call counting.

- credentials: a prefect-aws AwsCredentials block, or a named profile, or the standard chain;
  optionally an assumed role whose credentials refresh themselves (a window can outlast them);
- region: config/aws.yaml, else the environment (AWS_REGION / AWS_DEFAULT_REGION / profile);
- endpoints: boto3 honours AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE> by itself;
- retries: botocore's adaptive mode handles throttling (one layer for that failure class);
- every API call is counted by name through a ``before-call`` event hook.

Clients are created lazily, on first use, never at import.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from collections import Counter
from functools import cached_property
from typing import Any

import boto3
from botocore.config import Config as BotoConfig
from botocore.credentials import RefreshableCredentials
from botocore.exceptions import BotoCoreError, ClientError, ProfileNotFound
from botocore.session import get_session
from botocore.utils import parse_timestamp

from patchwave.config.aws import AwsSettings
from patchwave.errors import FleetUnavailable

RETRIES = BotoConfig(retries={"mode": "adaptive", "max_attempts": 10}, user_agent_extra="patchwave")
# SendCommand is not idempotent: only throttling may be retried, and that is done by hand.
NO_RETRIES = BotoConfig(retries={"mode": "standard", "max_attempts": 1}, user_agent_extra="patchwave")


# Services whose IAM prefix is not their signing name (CloudWatch signs as "monitoring").
IAM_PREFIX = {"monitoring": "cloudwatch"}


class CallCounter:
    """Counts API calls by operation name (once per call, not per retry attempt), and keeps
    the IAM action each one needs (``service:Operation``)."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.actions: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, model: Any = None, **_: Any) -> None:
        if model is not None:
            signing = model.service_model.signing_name
            prefix = IAM_PREFIX.get(signing, signing)
            with self._lock:
                self.calls[model.name] += 1
                self.actions.add(f"{prefix}:{model.name}")


def _assumed(base: boto3.Session, role_arn: str, external_id: str | None) -> boto3.Session:
    sts = base.client("sts", config=RETRIES)

    def refresh() -> dict[str, str]:
        kwargs: dict[str, Any] = {"RoleArn": role_arn, "RoleSessionName": "patchwave"}
        if external_id:
            kwargs["ExternalId"] = external_id
        creds = sts.assume_role(**kwargs)["Credentials"]
        return {
            "access_key": creds["AccessKeyId"],
            "secret_key": creds["SecretAccessKey"],
            "token": creds["SessionToken"],
            "expiry_time": creds["Expiration"].astimezone(dt.UTC).isoformat(),
        }

    botocore_session = get_session()
    botocore_session._credentials = RefreshableCredentials.create_from_metadata(  # noqa: SLF001
        metadata=refresh(), refresh_using=refresh, method="sts-assume-role"
    )
    return boto3.Session(botocore_session=botocore_session, region_name=base.region_name)


def make_session(settings: AwsSettings) -> boto3.Session:
    """The session the settings describe, or one FleetUnavailable line naming what failed (a
    profile that does not exist, an AssumeRole refused) before any fleet call is made."""
    try:
        return _make_session(settings)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise FleetUnavailable(
            f"config/aws.yaml: role_arn = {settings.role_arn!r}: AssumeRole failed: "
            f"{error.get('Code', 'error')}: {_one_line(error.get('Message', str(exc)))}"
        ) from exc
    except ProfileNotFound as exc:
        raise FleetUnavailable(
            f"config/aws.yaml: profile = {settings.profile!r}: no such profile in the AWS config files"
        ) from exc
    except BotoCoreError as exc:
        what = f"role_arn = {settings.role_arn!r}: AssumeRole failed" if settings.role_arn else "credentials"
        raise FleetUnavailable(f"config/aws.yaml: {what}: {_one_line(str(exc))}") from exc


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _make_session(settings: AwsSettings) -> boto3.Session:
    region = settings.region or os.environ.get("AWS_REGION") or None  # else AWS_DEFAULT_REGION/profile
    if settings.prefect_credentials_block:
        try:
            from prefect_aws import AwsCredentials
        except ImportError as exc:
            raise FleetUnavailable(
                "prefect_credentials_block is set but prefect-aws is not installed: "
                "pip install 'patchwave[prefect-aws]'"
            ) from exc
        block = AwsCredentials.load(settings.prefect_credentials_block)
        session = block.get_boto3_session()  # type: ignore[union-attr]
        if region:
            session = boto3.Session(botocore_session=session._session, region_name=region)  # noqa: SLF001
    else:
        session = boto3.Session(profile_name=settings.profile, region_name=region)
    if settings.role_arn:
        session = _assumed(session, settings.role_arn, settings.external_id)
    return session


def utc_timestamp(value: Any) -> dt.datetime:
    """A response timestamp as an aware UTC datetime. The JSON services patchwave calls send
    epoch seconds; botocore's default parser builds a local-zone tzinfo (dateutil's tzlocal)
    for each one, a tenth of the CPU of a window's calls (issue 13's profile). Anything else
    (ISO 8601, RFC 822: the XML services) goes to botocore's own parser."""
    if isinstance(value, int | float):
        return dt.datetime.fromtimestamp(value, dt.UTC)
    return parse_timestamp(value)


class AwsClients:
    """Lazily created clients sharing one session, one retry policy and one call counter."""

    def __init__(self, session: boto3.Session, counter: CallCounter | None = None) -> None:
        self.session = session
        self.counter = counter or CallCounter()
        session.events.register_first("before-call", self.counter)  # before any short-circuit
        # clients are created later (lazily), with parsers made by this factory
        factory = session._session.get_component("response_parser_factory")  # noqa: SLF001
        factory.set_parser_defaults(timestamp_parser=utc_timestamp)

    def _client(self, service: str, config: BotoConfig | None = None) -> Any:
        return self.session.client(service, config=config or RETRIES)

    @cached_property
    def ssm(self) -> Any:
        return self._client("ssm")

    @cached_property
    def ssm_send(self) -> Any:
        """The client SendCommand goes through: no automatic retries."""
        return self._client("ssm", NO_RETRIES)

    @cached_property
    def ec2(self) -> Any:
        return self._client("ec2")

    @cached_property
    def s3(self) -> Any:
        return self._client("s3")

    @cached_property
    def sns(self) -> Any:
        return self._client("sns")

    @cached_property
    def elbv2(self) -> Any:
        return self._client("elbv2")

    @cached_property
    def autoscaling(self) -> Any:
        return self._client("autoscaling")

    @cached_property
    def sts(self) -> Any:
        return self._client("sts")

    @cached_property
    def dynamodb(self) -> Any:
        return self._client("dynamodb")

    @cached_property
    def organizations(self) -> Any:
        return self._client("organizations")

    @cached_property
    def cloudwatch(self) -> Any:
        return self._client("cloudwatch")


def check_credentials(clients: AwsClients) -> str:
    """Who we are, or one clear error before anything else is called."""
    if clients.session.region_name is None:
        raise FleetUnavailable("no AWS region: set region in config/aws.yaml or AWS_REGION")
    try:
        identity = clients.sts.get_caller_identity()
    except ClientError as exc:
        raise FleetUnavailable(
            f"AWS credentials were refused: {exc.response['Error'].get('Message', exc)}"
        ) from exc
    except BotoCoreError as exc:
        raise FleetUnavailable(f"no usable AWS credentials: {exc}") from exc
    return f"AWS account {identity['Account']} in {clients.session.region_name} as {identity['Arn']}"
