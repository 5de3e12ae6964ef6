"""The stores every worker shares when ``config/aws.yaml`` names them (``shared:``): leases in
DynamoDB, ledgers and reports in S3. Unnamed, each stays local (SQLite leases, a folder)."""

from __future__ import annotations

import datetime as dt

from patchwave.aws.dynamodb import DynamoLeases
from patchwave.aws.s3_state import S3RunStore
from patchwave.aws.session import AwsClients, make_session
from patchwave.config.aws import AwsSettings
from patchwave.state.leases import Leases
from patchwave.state.sqlite_leases import SqliteLeases
from patchwave.state.store import LocalRunStore, RunStore


def open_shared(settings: AwsSettings, clients: AwsClients | None = None) -> tuple[Leases, RunStore]:
    """Leases and run store for these settings; ``clients`` reach the orchestrator's account
    (where the shared stores live), created from the settings when not given."""
    shared = settings.shared
    if (shared.leases_table or shared.bucket) and clients is None:
        clients = AwsClients(make_session(settings))
    leases: Leases = SqliteLeases()
    runs: RunStore = LocalRunStore()
    if shared.leases_table and clients is not None:
        stale = dt.timedelta(minutes=shared.stale_minutes) if shared.stale_minutes else None
        leases = DynamoLeases(clients.dynamodb, shared.leases_table, stale_after=stale)
    if shared.bucket and clients is not None:
        runs = S3RunStore(clients.s3, shared.bucket, shared.prefix)
    return leases, runs
