"""``patchwave setup``: create what several workers share, once, before they start.

- the DynamoDB lease table (with TTL on ``expires_at``), when ``shared.leases_table`` is named;
- a check that the state bucket (``shared.bucket``) exists and can be listed;
- the prefect-aws ``S3Bucket`` block that keeps Prefect task results
  (``shared.result_storage_block``), and the global concurrency limit that caps how many
  accounts patch at once (``accounts.concurrency_limit``), both on the Prefect server of
  ``PREFECT_API_URL``.

Everything is idempotent: run it again after changing ``config/aws.yaml``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from patchwave.errors import PatchwaveError

console = Console()


def _fail(message: str, code: int) -> typer.Exit:
    Console(stderr=True).print(
        f"error: {message}", style="bold red", markup=False, highlight=False, soft_wrap=True
    )
    return typer.Exit(code)


def result_storage(settings: Any) -> Any:
    """The S3Bucket block for Prefect results: the state bucket, under PREFIX/results."""
    from prefect_aws import AwsCredentials, S3Bucket
    from prefect_aws.client_parameters import AwsClientParameters

    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    credentials = AwsCredentials(
        region_name=settings.region or os.environ.get("AWS_REGION"),
        aws_client_parameters=AwsClientParameters(endpoint_url=endpoint)
        if endpoint
        else AwsClientParameters(),
    )
    return S3Bucket(
        bucket_name=settings.shared.bucket,
        bucket_folder=f"{settings.shared.prefix.strip('/')}/results",
        credentials=credentials,
    )


def ensure_concurrency_limit(name: str, limit: int) -> str:
    """Create the global concurrency limit, or set its limit; returns what was done."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate, GlobalConcurrencyLimitUpdate
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            current = client.read_global_concurrency_limit_by_name(name)
        except ObjectNotFound:
            client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=limit))
            return "created"
        if current.limit != limit or not current.active:
            client.update_global_concurrency_limit(
                name, GlobalConcurrencyLimitUpdate(limit=limit, active=True)
            )
            return "updated"
        return "exists"


def _prefect_api() -> str | None:
    from prefect.settings import PREFECT_API_URL

    return PREFECT_API_URL.value()


def setup(
    config: Annotated[
        Path, typer.Option("--config", "-c", help="Folder with aws.yaml (and baselines.yaml, windows.yaml).")
    ] = Path("config"),
) -> None:
    """Create the shared stores config/aws.yaml names (lease table, result-storage block,
    account concurrency limit) and check the state bucket; safe to run again."""
    from botocore.exceptions import BotoCoreError, ClientError

    from patchwave.aws.dynamodb import ensure_table
    from patchwave.aws.session import AwsClients, check_credentials, make_session
    from patchwave.config import load_config

    try:
        settings = load_config(config).aws
    except PatchwaveError as exc:
        raise _fail(str(exc), 2) from None
    shared = settings.shared
    if settings.shared.result_storage_block and not shared.bucket:
        raise _fail(f"{config / 'aws.yaml'}: shared.result_storage_block: needs shared.bucket", 2)
    try:
        clients = AwsClients(make_session(settings))
        console.print(check_credentials(clients), highlight=False)
        if shared.leases_table:
            created = ensure_table(clients.dynamodb, shared.leases_table)
            console.print(f"lease table {shared.leases_table}: {'created' if created else 'exists'}")
        if shared.bucket:
            clients.s3.head_bucket(Bucket=shared.bucket)
            console.print(f"state bucket s3://{shared.bucket}/{shared.prefix}: reachable")
    except PatchwaveError as exc:
        raise _fail(str(exc), 1) from None
    except (ClientError, BotoCoreError) as exc:
        raise _fail(f"AWS refused the setup: {exc}", 1) from None
    wants_prefect = shared.result_storage_block or settings.accounts is not None
    if wants_prefect and not _prefect_api():
        raise _fail("PREFECT_API_URL is not set: the block and the limit belong on the workers' server", 1)
    if shared.result_storage_block:
        result_storage(settings).save(shared.result_storage_block, overwrite=True)
        console.print(f"result storage block s3-bucket/{shared.result_storage_block}: saved")
    if settings.accounts is not None:
        accounts = settings.accounts
        done = ensure_concurrency_limit(accounts.concurrency_limit, accounts.max_concurrent)
        console.print(f"concurrency limit {accounts.concurrency_limit} ({accounts.max_concurrent}): {done}")
