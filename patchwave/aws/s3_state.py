"""Run ledgers and reports in S3, so that a run that died on one worker is resumed, or
retried, on another.

S3 has no append, so a ledger is a sequence of objects under ``PREFIX/runs/RUN_ID/``, named by
an increasing number (``00000000.jsonl``, ...), each holding one or more ledger lines in the file
ledger's format (``crc32hex SP json``: a damaged line is refused, never read as data). Write-ahead
is kept: a line that starts work (plan, command intents, reboot intents, halt, wave result) is
written, with the lines buffered before it, by a ``PutObject`` that has *returned* before
``append`` does, so the work it announces starts only once S3 has it. Other lines (sends,
outcomes) are buffered and written with the next such line, at close, or every ``FLUSH_LINES``;
what a killed worker lost of them is found again on resume from the intents, as with the file
ledger. Every object is written with
``If-None-Match: *`` (never overwrites: two writers of one run, the flow and its wave task, take
the next free number) and a SHA-256 checksum S3 verifies. Each object records its writer's
holder token (metadata ``holder``): a number taken by *another process* of the same run is
refused (``LedgerInUse``), never interleaved (the run claim refuses such a process first).
An object is all or nothing in S3, so
a torn line cannot exist: a line whose checksum fails was altered, and is refused
(``LedgerDamaged``), as a damaged middle line of a file ledger is.

Reports go to ``PREFIX/reports/RUN_ID/`` (``retry --run-id`` on any worker fetches them).

Calls: ``s3:PutObject``, ``s3:GetObject`` (GetObject, HeadObject), ``s3:ListBucket`` (ListObjectsV2).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from patchwave.reports.report import write_atomic
from patchwave.state.holder import holder_token
from patchwave.state.ledger import DURABLE, LedgerDamaged, decode, encode
from patchwave.state.ledger_lock import LedgerInUse
from patchwave.state.store import RunLedger

FLUSH_LINES = 200
# Lines stored at once besides those that start work: a run's last line (the flow that writes it
# never closes its ledger, and a file ledger hands every line to the OS at once).
STORED_AT_ONCE = DURABLE | {"finished"}
TYPES = {".json": "application/json", ".md": "text/markdown", ".html": "text/html"}


def split_url(url: str) -> tuple[str, str]:
    """'s3://bucket/some/prefix' -> ('bucket', 'some/prefix')."""
    bucket, _, key = url.removeprefix("s3://").partition("/")
    return bucket, key.strip("/")


def list_keys(s3: Any, bucket: str, prefix: str) -> list[str]:
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys.extend(item["Key"] for item in page.get("Contents", []))
    return sorted(keys)


def _conflict(exc: ClientError) -> bool:
    return exc.response["Error"]["Code"] in ("PreconditionFailed", "ConditionalRequestConflict")


class S3Ledger:
    """A run ledger in S3 (see the module docstring); same verbs as the file ``Ledger``."""

    def __init__(self, s3: Any, url: str) -> None:
        self.s3 = s3
        self.path = url.rstrip("/")
        self.bucket, self.prefix = split_url(self.path)
        self._pending: list[bytes] = []
        self._next: int | None = None

    def append(self, kind: str, **data: Any) -> None:
        self.write([(kind, data)])

    def write(self, records: list[tuple[str, dict[str, Any]]], *, durable: bool = False) -> None:
        """Several lines at once; stored before returning when any of them starts work."""
        self._pending.extend(encode(kind, data) for kind, data in records)
        at_once = durable or any(kind in STORED_AT_ONCE for kind, _ in records)
        if at_once or len(self._pending) >= FLUSH_LINES:
            self.flush()

    def flush(self) -> None:
        """Write the buffered lines as the next object; returns once S3 has stored it."""
        if not self._pending:
            return
        body = b"".join(self._pending)
        number = self._next if self._next is not None else self._first_free()
        while True:
            try:
                self.s3.put_object(
                    Bucket=self.bucket,
                    Key=f"{self.prefix}/{number:08d}.jsonl",
                    Body=body,
                    ContentType="application/x-ndjson",
                    IfNoneMatch="*",
                    ChecksumAlgorithm="SHA256",
                    Metadata={"holder": holder_token()},
                )
                break
            except ClientError as exc:
                if not _conflict(exc):
                    raise
                self._check_same_process(f"{self.prefix}/{number:08d}.jsonl")
                number += 1  # another writer of this run in this process took it: the next one
        self._next = number + 1
        self._pending = []

    def _check_same_process(self, key: str) -> None:
        """The object that took our number was written by this process (the flow and its wave
        task), else another process writes this run: refused (LedgerInUse), never interleaved."""
        other = self.s3.head_object(Bucket=self.bucket, Key=key).get("Metadata", {}).get("holder", "")
        if other and other != holder_token():
            raise LedgerInUse(
                f"ledger {self.path} is being written by another process ({other}); "
                "one process at a time may run a run"
            )

    def _first_free(self) -> int:
        keys = self._keys()
        return int(keys[-1].rsplit("/", 1)[1].split(".")[0]) + 1 if keys else 0

    def _keys(self) -> list[str]:
        return [k for k in list_keys(self.s3, self.bucket, self.prefix + "/") if k.endswith(".jsonl")]

    def close(self) -> None:
        self.flush()

    def entries(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for key in self._keys():
            body = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
            for number, raw in enumerate(body.split(b"\n")[:-1], start=1):
                entry = decode(raw)
                if entry is None:  # objects are whole: a bad line was altered, never torn
                    raise LedgerDamaged(
                        f"s3://{self.bucket}/{key}: line {number}: damaged ledger line (checksum);"
                        " the run cannot be resumed safely from it"
                    )
                found.append(entry)
        return found


class S3RunStore:
    """Ledgers and reports under ``s3://BUCKET/PREFIX``; report files are also kept locally."""

    def __init__(self, s3: Any, bucket: str, prefix: str) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.prefix = prefix.strip("/")

    def ledger(self, report_dir: str, run_id: str) -> RunLedger:
        return S3Ledger(self.s3, f"s3://{self.bucket}/{self.prefix}/runs/{run_id}")

    def reopen(self, location: str) -> RunLedger:
        return S3Ledger(self.s3, location)

    def keep_reports(self, run_id: str, files: dict[str, str]) -> dict[str, str]:
        links: dict[str, str] = {}
        for kind, path in files.items():
            local = Path(path)
            key = f"{self.prefix}/reports/{run_id}/{local.name}"
            self.s3.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=local.read_bytes(),
                ContentType=TYPES.get(local.suffix, "text/plain"),
                ChecksumAlgorithm="SHA256",
            )
            links[f"shared-{kind}"] = f"s3://{self.bucket}/{key}"
        return links

    def fetch_report(self, report_dir: str, run_id: str) -> Path | None:
        keys = [
            k
            for k in list_keys(self.s3, self.bucket, f"{self.prefix}/reports/{run_id}/")
            if k.endswith(".json")
        ]
        if not keys:
            return None
        body = self.s3.get_object(Bucket=self.bucket, Key=keys[-1])["Body"].read().decode("utf-8")
        local = Path(report_dir) / keys[-1].rsplit("/", 1)[1]
        write_atomic(local, body)
        return local
