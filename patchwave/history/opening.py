"""Opening the configured store and recording a run in it, with retention applied."""

from __future__ import annotations

import datetime as dt

from patchwave.config.history import HistorySettings
from patchwave.history.port import HistoryStore
from patchwave.history.records import RunRecord


def open_store(settings: HistorySettings, url: str | None = None) -> HistoryStore:
    """The SQL store at ``url`` (else the configured one); migrations run on open."""
    from patchwave.history.sqlstore import SqlHistoryStore

    return SqlHistoryStore(url or settings.store.resolved_url())


def record_run(store: HistoryStore, run: RunRecord, retention_days: int, now: dt.datetime) -> int:
    """Record (replacing an earlier record of the same run), then forget what is past retention."""
    store.record(run)
    return store.purge(now - dt.timedelta(days=retention_days))
