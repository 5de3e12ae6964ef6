"""The run ledger: what a run started and decided, written before it matters, so a run that
died can be resumed without starting anything twice.

One line per event: the plan, each command's intent (its unique Comment token, written and
fsynced *before* SendCommand), each command sent (id, members, operation, deadline), each
reboot's intent and its sending, each instance's outcome, each wave's result. Every line is
flushed to the operating system at once (a killed process loses nothing); the lines that start
work (plan, intents, reboots, wave results) are also fsynced, in one fsync per batch (group
commit), so that even a machine crash cannot make a run forget a command it may have sent.

Each line carries a CRC-32 of its JSON (``crc32hex SP json``), so damage is detected, never
read as data:

- a torn or garbled tail (power loss mid-write, a full disk) is reported in one warning line,
  set aside next to the ledger (``.torn-N``) and the ledger truncated to its last good line
  before anything is appended;
- a damaged line followed by good ones is refused (``LedgerDamaged``, one line naming the file
  and the line): a resume that skipped it could start something twice.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import os
import re
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from patchwave.errors import ConfigError, PatchwaveError
from patchwave.state import ledger_lock
from patchwave.window.outcomes import Outcome
from patchwave.window.planning import Plan, PlannedInstance, WavePlan
from patchwave.window.runner import InstanceResult, WaveResult

log = logging.getLogger(__name__)

RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$")


class LedgerDamaged(PatchwaveError):
    """A line in the middle of a ledger does not read back: the run cannot be resumed safely."""


def _default(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, Outcome):
        return value.value
    raise TypeError(f"cannot record {type(value).__name__}")


DURABLE = frozenset({"start", "plan", "intents", "reboot_intent", "halt", "wave_done"})


def encode(kind: str, data: dict[str, Any]) -> bytes:
    body = json.dumps({"kind": kind, **data}, default=_default, ensure_ascii=True)
    return f"{zlib.crc32(body.encode()):08x} {body}\n".encode()


def intact(raw: bytes) -> bool:
    """Whether a line reads back (ASCII, as ``encode`` writes it, with a matching checksum),
    without decoding its JSON."""
    crc, sep, body = raw.partition(b" ")
    if not sep or len(crc) != 8 or not body.isascii():
        return False
    try:
        return int(crc, 16) == zlib.crc32(body)
    except ValueError:
        return False


def decode(raw: bytes) -> dict[str, Any] | None:
    """One line back, or None when it is damaged (torn, garbled, not UTF-8, wrong checksum)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    crc, sep, body = text.partition(" ")
    if not sep or len(crc) != 8:
        return None
    try:
        if int(crc, 16) != zlib.crc32(body.encode()):
            return None
        entry = json.loads(body)
    except ValueError:
        return None
    return entry if isinstance(entry, dict) and isinstance(entry.get("kind"), str) else None


class Ledger:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle: Any = None
        self._checked = False
        self.set_aside: Path | None = None  # where a torn tail went, when there was one

    def append(self, kind: str, **data: Any) -> None:
        self.write([(kind, data)], durable=kind in DURABLE)

    def write(self, records: list[tuple[str, dict[str, Any]]], *, durable: bool = False) -> None:
        """Several lines in one write and (when ``durable``) one fsync: a batch's group commit."""
        if not records:
            return
        if self._handle is None:
            if not self._checked:
                self._read(None)  # repairs a torn tail before anything is appended
            self.path.parent.mkdir(parents=True, exist_ok=True)
            ledger_lock.claim(self.path)  # one writing process per ledger
            self._handle = self.path.open("ab")
        self._handle.write(b"".join(encode(kind, data) for kind, data in records))
        self._handle.flush()
        if durable or any(kind in DURABLE for kind, _ in records):
            os.fsync(self._handle.fileno())

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def entries(self) -> list[dict[str, Any]]:
        """Every good line; a damaged tail is set aside (and the file truncated), a damaged
        middle line is refused."""
        found: list[dict[str, Any]] = []
        self._read(found.append)
        return found

    def _read(self, keep: Callable[[dict[str, Any]], None] | None) -> None:
        """Read the ledger line by line (never whole), decoding each line for ``keep``, or only
        checking it when there is none: before the first append of each wave's task, which
        needs the tail repaired, not the earlier records (decoding them all was a transient
        of the whole run's records, 30 MB at 10,000 instances)."""
        if not self.path.exists():
            self._checked = True
            return
        if not self.path.is_file():
            raise ConfigError(str(self.path), "<file>", None, "not a regular file")
        good_end = 0
        first_bad: int | None = None  # line number of the first damaged line
        offset = 0
        with self.path.open("rb") as handle:
            for number, line in enumerate(handle, start=1):
                offset += len(line)
                complete = line.endswith(b"\n")
                raw = line[:-1]
                entry = decode(raw) if complete and keep is not None else None
                good = entry is not None if keep is not None else complete and intact(raw)
                if not good:
                    if first_bad is None:
                        first_bad = number
                    continue
                if first_bad is not None:
                    raise LedgerDamaged(
                        f"{self.path}: line {first_bad}: damaged ledger line (torn or altered) "
                        f"before good ones; the run cannot be resumed safely from it"
                    )
                if keep is not None and entry is not None:
                    keep(entry)
                good_end = offset
        if first_bad is not None:
            ledger_lock.claim(self.path)  # never cut the tail another process is writing
            self._set_aside(good_end, first_bad)
        self._checked = True

    def _set_aside(self, good_end: int, line: int) -> None:
        with self.path.open("rb") as handle:
            handle.seek(good_end)
            tail = handle.read()
        number = 1
        while (aside := self.path.with_name(f"{self.path.name}.torn-{number}")).exists():
            number += 1
        aside.write_bytes(tail)
        with self.path.open("r+b") as handle:
            handle.truncate(good_end)
            os.fsync(handle.fileno())
        self.set_aside = aside
        log.warning(
            "%s: damaged tail from line %d (%d bytes) set aside in %s; resuming from the last good line",
            self.path,
            line,
            len(tail),
            aside.name,
        )


def peek(path: Path) -> list[dict[str, Any]]:
    """The good lines of a ledger another process may be writing (nothing repaired)."""
    found = []
    for raw in path.read_bytes().split(b"\n"):
        entry = decode(raw)
        if entry is None:
            break
        found.append(entry)
    return found


def check_run_id(run_id: str, source: str = "--resume", field: str = "run") -> str:
    """A run id names a ledger file: letters, digits, '-' and '_' only (never a path)."""
    if not RUN_ID.match(run_id):
        raise ConfigError(source, field, run_id, "expected a run id (letters, digits, '-', '_'), not a path")
    return run_id


def ledger_for(report_dir: str | Path, run_id: str) -> Ledger:
    return Ledger(Path(report_dir) / ".runs" / f"{check_run_id(run_id)}.jsonl")


def resumable(report_dir: str | Path, run_id: str, window: str) -> list[dict[str, Any]]:
    """The ledger of a run to resume, refused (ConfigError, LedgerDamaged) unless it exists,
    reads back and belongs to this window."""
    entries = ledger_for(report_dir, run_id).entries()
    return check_resumable(entries, run_id, window, str(Path(report_dir) / ".runs"))


def check_resumable(
    entries: list[dict[str, Any]], run_id: str, window: str, where: str
) -> list[dict[str, Any]]:
    """A ledger's entries (read from wherever it is kept) are a resumable run of this window."""
    start = next((e for e in entries if e["kind"] == "start"), None)
    if start is None or not any(e["kind"] == "plan" for e in entries):
        raise ConfigError("--resume", "run", run_id, f"no ledger of that run in {where}")
    if start.get("window") != window:
        raise ConfigError(
            "--resume", "run", run_id, f"that run is of window {start.get('window')!r}, not {window!r}"
        )
    return entries


def check_writable(folder: str | Path, option: str) -> None:
    """A folder reports and ledgers can be written in (created when missing), checked by
    writing and removing a file, so a read-only folder is refused before any fleet call."""
    path = Path(folder)
    try:
        (path / ".runs").mkdir(parents=True, exist_ok=True)
        probe = path / ".runs" / f".probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise ConfigError(option, "folder", str(path), f"not writable: {exc.strerror}") from None


def _time(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


def shallow(record: Any) -> dict[str, Any]:
    """A dataclass of scalars as a dict, without ``dataclasses.asdict``'s deep copies."""
    return {f.name: getattr(record, f.name) for f in dataclasses.fields(record)}


def plan_to_dict(plan: Plan) -> dict[str, Any]:
    return {
        "window": plan.window,
        "waves": [{**shallow(w), "members": [_member(m) for m in w.members]} for w in plan.waves],
        "warnings": list(plan.warnings),
    }


def _member(member: PlannedInstance) -> dict[str, Any]:
    return {**shallow(member), "missing_by_severity": dict(member.missing_by_severity)}


def plan_from_dict(data: dict[str, Any]) -> Plan:
    waves = []
    for wave in data["waves"]:
        members = tuple(
            PlannedInstance(**{**m, "preset": Outcome(m["preset"]) if m["preset"] else None})
            for m in wave["members"]
        )
        waves.append(WavePlan(**{**wave, "members": members}))
    return Plan(data["window"], tuple(waves), tuple(data["warnings"]))


def result_to_dict(result: WaveResult) -> dict[str, Any]:
    return {**shallow(result), "results": [shallow(r) for r in result.results]}


def instance_from_dict(data: dict[str, Any]) -> InstanceResult:
    return InstanceResult(
        **{
            **data,
            "outcome": Outcome(data["outcome"]),
            "started_at": _time(data.get("started_at")),
            "finished_at": _time(data.get("finished_at")),
        }
    )


def result_from_dict(data: dict[str, Any]) -> WaveResult:
    return WaveResult(
        **{
            **data,
            "results": [instance_from_dict(r) for r in data["results"]],
            "started_at": _time(data["started_at"]),
            "finished_at": _time(data["finished_at"]),
        }
    )
