"""The run ledger: what a run started and decided, written before it matters, so a run that
died can be resumed without starting anything twice.

One JSON line per event: the plan, each command sent (id, members, operation, deadline), each
reboot, each instance's outcome, each wave's result. Every line is flushed to the operating
system at once (a killed process loses nothing); the lines that start work (plan, sends,
reboots) are also fsynced, so that even a machine crash cannot make a run forget a command it
sent. An outcome lost that way is derived again on resume from its command. Resuming reads
it back: finished waves are not run again; in the wave that was running, commands already sent
are re-attached (polled, never re-sent) and decided outcomes stand.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

from patchwave.window.outcomes import Outcome
from patchwave.window.planning import Plan, PlannedInstance, WavePlan
from patchwave.window.runner import InstanceResult, WaveResult


def _default(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, Outcome):
        return value.value
    raise TypeError(f"cannot record {type(value).__name__}")


DURABLE = frozenset({"start", "plan", "send", "reboot", "wave_done"})


class Ledger:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._handle: Any = None

    def append(self, kind: str, **data: Any) -> None:
        line = json.dumps({"kind": kind, **data}, default=_default)
        if self._handle is None:
            self._handle = self.path.open("a", encoding="utf-8")
        self._handle.write(line + "\n")
        self._handle.flush()
        if kind in DURABLE:
            os.fsync(self._handle.fileno())

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def entries(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        found = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                found.append(json.loads(line))
            except ValueError:
                break  # a line cut by the crash: everything before it stands
        return found


def ledger_for(report_dir: str | Path, run_id: str) -> Ledger:
    return Ledger(Path(report_dir) / ".runs" / f"{run_id}.jsonl")


def _time(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


def plan_to_dict(plan: Plan) -> dict[str, Any]:
    return dataclasses.asdict(plan)


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
    return dataclasses.asdict(result)


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
