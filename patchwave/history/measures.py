"""Measures over recorded history (pure functions of ``RunRecord`` lists).

Definitions, so that anyone can recompute a figure by hand:
- **compliance trend**: for each run, of the instances it observed, how many were compliant, and
  how many had at least one non-compliant patch of each severity (as the console's headlines).
- **time to patch** of an (instance, patch): its ``installed_time`` minus the patch's release date
  (``release``), or minus the first observation that saw it MISSING or FAILED (``first_seen``).
  Only patches seen INSTALLED with a known installed time count; p90 is nearest-rank.
- **SLA breach**: a patch of a severity the policy names, due ``days`` after its release (after it
  was first seen missing when the release date is unknown), installed after the due time
  (closed), or still non-compliant at the latest observation of its instance past due (open).
- **fell out of compliance**: consecutive observations of one instance, compliant then not.
- **window success rate**: patched + already compliant over the planned instances that were
  online (``skipped_offline`` is neither a success nor a failure of the window).
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from patchwave.history.records import (
    INSTALLED_STATES,
    InstanceObservation,
    PatchObservation,
    RunRecord,
)

SEVERITIES = ("CRITICAL", "HIGH", "MEDIUM", "LOW", "INFORMATIONAL", "UNSPECIFIED")
SUCCESS_OUTCOMES = frozenset({"patched", "already_compliant"})
MISSING_STATES = frozenset({"MISSING", "FAILED"})
DAY = 86400.0


def narrow(
    runs: Sequence[RunRecord], severity: str | None = None, group: str | None = None
) -> list[RunRecord]:
    """Only the instances of a patch group and only the patches of a severity."""
    result: list[RunRecord] = []
    for run in runs:
        instances = tuple(
            replace(i, patches=tuple(p for p in i.patches if severity is None or p.severity == severity))
            for i in run.instances
            if group is None or i.patch_group == group
        )
        result.append(replace(run, instances=instances))
    return result


@dataclass(frozen=True)
class TrendPoint:
    run_id: str
    kind: str
    name: str
    at: dt.datetime
    observed: int
    compliant: int
    by_severity: dict[str, int]
    by_group: dict[str, tuple[int, int]] = field(default_factory=dict)  # group -> (compliant, observed)

    @property
    def percent(self) -> float:
        return 100.0 * self.compliant / self.observed if self.observed else 100.0


def compliance_trend(runs: Sequence[RunRecord]) -> list[TrendPoint]:
    points: list[TrendPoint] = []
    for run in runs:
        if not run.instances or run.kind == "rollback":  # a rollback observes no patch state
            continue
        severities: dict[str, int] = {s: 0 for s in SEVERITIES}
        groups: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        compliant = 0
        for inst in run.instances:
            counts = groups[inst.patch_group or "(default)"]
            counts[1] += 1
            if inst.compliant:
                compliant += 1
                counts[0] += 1
            for level in inst.non_compliant_severities():
                severities[level] = severities.get(level, 0) + 1
        points.append(
            TrendPoint(
                run.run_id,
                run.kind,
                run.name,
                run.finished_at,
                len(run.instances),
                compliant,
                severities,
                {g: (c[0], c[1]) for g, c in sorted(groups.items())},
            )
        )
    return points


def _timeline(runs: Sequence[RunRecord]) -> dict[tuple[str, str], list[tuple[dt.datetime, PatchObservation]]]:
    """Every observation of every (instance, patch), oldest first."""
    seen: dict[tuple[str, str], list[tuple[dt.datetime, PatchObservation]]] = defaultdict(list)
    for run in runs:
        for inst in run.instances:
            for patch in inst.patches:
                seen[(inst.instance_id, patch.patch_id)].append((inst.observed_at, patch))
    for history in seen.values():
        history.sort(key=lambda item: item[0])
    return seen


def _first_missing(history: Iterable[tuple[dt.datetime, PatchObservation]]) -> dt.datetime | None:
    return next((at for at, p in history if p.state in MISSING_STATES), None)


def _installed(history: Sequence[tuple[dt.datetime, PatchObservation]]) -> PatchObservation | None:
    return next((p for _, p in history if p.state in INSTALLED_STATES and p.installed_time is not None), None)


def _release(patch: PatchObservation) -> dt.datetime | None:
    if patch.release_date is None:
        return None
    return dt.datetime.combine(patch.release_date, dt.time(), tzinfo=dt.UTC)


@dataclass(frozen=True)
class TimeToPatch:
    severity: str
    count: int
    mean_days: float
    p90_days: float


def p90(values: Sequence[float]) -> float:
    """Nearest-rank 90th percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)]


def time_to_patch(runs: Sequence[RunRecord], basis: str = "release") -> list[TimeToPatch]:
    """Mean and p90 days to patch per severity, from ``release`` or from ``first_seen`` missing."""
    samples: dict[str, list[float]] = defaultdict(list)
    for history in _timeline(runs).values():
        installed = _installed(history)
        if installed is None or installed.installed_time is None:
            continue
        start = _release(installed) if basis == "release" else _first_missing(history)
        if start is None or start > installed.installed_time:
            continue
        samples[installed.severity].append((installed.installed_time - start).total_seconds() / DAY)
    return [
        TimeToPatch(
            level, len(samples[level]), sum(samples[level]) / len(samples[level]), p90(samples[level])
        )
        for level in SEVERITIES
        if samples.get(level)
    ]


@dataclass(frozen=True)
class Breach:
    instance_id: str
    patch_id: str
    severity: str
    due: dt.datetime
    installed_at: dt.datetime | None  # None: still not installed (an open breach)
    days_late: float


def sla_breaches(
    runs: Sequence[RunRecord], policy: dict[str, int], as_of: dt.datetime | None = None
) -> list[Breach]:
    """Patches installed after their due time, or still non-compliant past it."""
    latest: dict[str, dt.datetime] = {}
    for run in runs:
        for inst in run.instances:
            latest[inst.instance_id] = max(latest.get(inst.instance_id, inst.observed_at), inst.observed_at)
    as_of = as_of or max(latest.values(), default=None)
    breaches: list[Breach] = []
    for (instance_id, patch_id), history in _timeline(runs).items():
        last_at, last = history[-1]
        days = policy.get(last.severity)
        if days is None:
            continue
        start = _release(last) or _first_missing(history)
        if start is None:
            continue
        due = start + dt.timedelta(days=days)
        installed = _installed(history)
        if installed is not None and installed.installed_time is not None:
            if installed.installed_time > due:
                late = (installed.installed_time - due).total_seconds() / DAY
                breaches.append(
                    Breach(instance_id, patch_id, last.severity, due, installed.installed_time, late)
                )
            continue
        still_open = last.state in MISSING_STATES or last.state == "INSTALLED_PENDING_REBOOT"
        if still_open and last_at == latest[instance_id] and as_of is not None and as_of > due:
            late = (as_of - due).total_seconds() / DAY
            breaches.append(Breach(instance_id, patch_id, last.severity, due, None, late))
    breaches.sort(key=lambda b: (-b.days_late, b.instance_id, b.patch_id))
    return breaches


@dataclass(frozen=True)
class FellOut:
    instance_id: str
    compliant_at: dt.datetime
    compliant_run: str
    non_compliant_at: dt.datetime
    non_compliant_run: str
    patches: tuple[str, ...]


def fell_out_of_compliance(runs: Sequence[RunRecord]) -> list[FellOut]:
    """Instances compliant at one observation and not at the next."""
    by_instance: dict[str, list[tuple[dt.datetime, str, InstanceObservation]]] = defaultdict(list)
    for run in (r for r in runs if r.kind != "rollback"):  # a rollback observes no patch state
        for inst in run.instances:
            by_instance[inst.instance_id].append((inst.observed_at, run.run_id, inst))
    result: list[FellOut] = []
    for instance_id, seen in sorted(by_instance.items()):
        seen.sort(key=lambda item: item[0])
        for (at0, run0, obs0), (at1, run1, obs1) in zip(seen, seen[1:], strict=False):
            if obs0.compliant and not obs1.compliant:
                missing = tuple(sorted(p.patch_id for p in obs1.patches if p.state not in INSTALLED_STATES))
                result.append(FellOut(instance_id, at0, run0, at1, run1, missing))
    return result


@dataclass(frozen=True)
class WindowRate:
    run_id: str
    kind: str
    name: str
    at: dt.datetime
    planned: int
    online: int
    succeeded: int

    @property
    def rate(self) -> float:
        return 100.0 * self.succeeded / self.online if self.online else 100.0


def window_success(runs: Sequence[RunRecord]) -> list[WindowRate]:
    rates: list[WindowRate] = []
    for run in runs:
        outcomes = run.outcomes()
        if not outcomes or run.kind == "rollback":  # what was undone, not a window's success
            continue
        planned = sum(outcomes.values())
        online = planned - outcomes.get("skipped_offline", 0)
        succeeded = sum(outcomes.get(o, 0) for o in SUCCESS_OUTCOMES)
        rates.append(WindowRate(run.run_id, run.kind, run.name, run.started_at, planned, online, succeeded))
    return rates
