"""Where a run keeps its ledger and its reports: a local folder (one machine) or a shared store
(S3, ``patchwave.aws.s3_state``) that any worker can resume or retry from.

A ledger is named by a location string (a file path, or an ``s3://`` URL) so that a task can
re-open the flow's ledger from a plain string parameter.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from patchwave.state.ledger import Ledger, ledger_for


class RunLedger(Protocol):
    """What the flow and the wave runner need of a ledger (``Ledger`` is the file one)."""

    @property
    def path(self) -> Any: ...

    def append(self, kind: str, **data: Any) -> None: ...

    def write(self, records: list[tuple[str, dict[str, Any]]], *, durable: bool = False) -> None:
        """Several lines at once, durable together (a group commit)."""
        ...

    def close(self) -> None: ...

    def entries(self) -> list[dict[str, Any]]: ...


class RunStore(Protocol):
    def ledger(self, report_dir: str, run_id: str) -> RunLedger:
        """The ledger of a run (empty when the run is new)."""
        ...

    def reopen(self, location: str) -> RunLedger:
        """The ledger at ``str(ledger.path)`` of a ledger this store opened."""
        ...

    def keep_reports(self, run_id: str, files: dict[str, str]) -> dict[str, str]:
        """Copy a run's report files where other workers find them; returns their links."""
        ...

    def fetch_report(self, report_dir: str, run_id: str) -> Path | None:
        """Bring a run's JSON report into ``report_dir`` (None when the store has none)."""
        ...


class LocalRunStore:
    """Ledgers under ``REPORT_DIR/.runs``, reports in ``REPORT_DIR``: what one machine needs."""

    def ledger(self, report_dir: str, run_id: str) -> RunLedger:
        return ledger_for(report_dir, run_id)

    def reopen(self, location: str) -> RunLedger:
        return Ledger(Path(location))

    def keep_reports(self, run_id: str, files: dict[str, str]) -> dict[str, str]:
        return {}

    def fetch_report(self, report_dir: str, run_id: str) -> Path | None:
        return None
