"""Wave planning (pure): every target lands in exactly one wave, with its reason.

Rules:
- waves are filled in order; a target goes to the first wave whose selector takes it;
- a ``tags`` selector takes every remaining target with those tags; ``count`` and ``percent``
  take from the remaining instances that need patching (percent of those, rounded up), so a
  canary is never spent on an instance with nothing to install; the last wave takes the rest;
- targets that are stopped or not Online are ``skipped_offline``; those whose last scan was
  compliant are ``already_compliant``; only the others are scheduled to install;
- a selector that takes nothing is a warning in the plan, not an error.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

from patchwave.config.windows import Wave, WaveSelector, Window
from patchwave.fleet import ComplianceSummary, InstancePatchState, ManagedInstance
from patchwave.window.outcomes import Outcome
from patchwave.window.ratespec import concurrency_for, errors_tolerated
from patchwave.window.targeting import tags_match


@dataclass(frozen=True, slots=True)  # slots: one per instance (issue 13, memory)
class PlannedInstance:
    instance_id: str
    wave: str
    platform: str
    patch_group: str
    baseline: str
    preset: Outcome | None  # decided at planning time; None means: install
    missing_by_severity: Mapping[str, int] = field(default_factory=dict)
    reason: str = ""

    @property
    def to_install(self) -> bool:
        return self.preset is None


@dataclass(frozen=True)
class WavePlan:
    name: str
    index: int
    members: tuple[PlannedInstance, ...]
    max_concurrency: int
    max_errors: int
    require_approval: bool
    selector: str

    @property
    def install_ids(self) -> list[str]:
        return [m.instance_id for m in self.members if m.to_install]


@dataclass(frozen=True)
class Plan:
    window: str
    waves: tuple[WavePlan, ...]
    warnings: tuple[str, ...]

    @property
    def members(self) -> list[PlannedInstance]:
        return [m for w in self.waves for m in w.members]

    @property
    def planned_ids(self) -> set[str]:
        return {m.instance_id for m in self.members}


def describe(selector: WaveSelector | None, last: bool) -> str:
    if selector is None or last:
        return "the rest"
    if selector.tags is not None:
        return "tags " + ", ".join(f"{k}={'|'.join(v)}" for k, v in selector.tags.items())
    if selector.count is not None:
        return f"{selector.count} instance(s)"
    if selector.instance_ids is not None:
        return f"{len(selector.instance_ids)} named instance(s)"
    return f"{selector.percent:g}% of the rest"


def _preset(
    instance: ManagedInstance, summary: ComplianceSummary | None, busy: bool = False
) -> tuple[Outcome | None, str]:
    if not instance.online and not busy:
        return Outcome.SKIPPED_OFFLINE, f"at planning: ping {instance.ping_status}, state {instance.state}"
    if summary is not None and summary.compliant:
        return Outcome.ALREADY_COMPLIANT, "at planning: compliant with its baseline"
    return None, ""


def _take(wave: Wave, remaining: list[ManagedInstance], actionable: set[str]) -> list[ManagedInstance]:
    selector = wave.select
    assert selector is not None
    if selector.tags is not None:
        return [i for i in remaining if tags_match(i.tags, selector.tags)]
    if selector.instance_ids is not None:
        wanted = set(selector.instance_ids)
        return [i for i in remaining if i.instance_id in wanted]
    candidates = [i for i in remaining if i.instance_id in actionable]
    if selector.count is not None:
        return candidates[: selector.count]
    assert selector.percent is not None
    return candidates[: math.ceil(selector.percent * len(candidates) / 100)]


def plan_window(
    window: Window,
    targets: Sequence[ManagedInstance],
    states: Mapping[str, InstancePatchState],
    compliance: Mapping[str, ComplianceSummary],
    busy_elsewhere: Collection[str] = (),
) -> Plan:
    """Assign each target (already selected by the window's targets) to one wave.

    An instance another run is operating on (``busy_elsewhere``) may be offline only because
    that run is rebooting it: it is planned as usual, and waits for its lease when its turn comes."""
    presets = {
        t.instance_id: _preset(t, compliance.get(t.instance_id), t.instance_id in busy_elsewhere)
        for t in targets
    }
    actionable = {iid for iid, (preset, _) in presets.items() if preset is None}
    remaining = sorted(targets, key=lambda i: i.instance_id)
    warnings: list[str] = [] if targets else ["the window's targets select no instance"]
    waves: list[WavePlan] = []
    for index, wave in enumerate(window.waves):
        last = index == len(window.waves) - 1
        if last:
            taken = remaining
            if wave.select is not None and remaining:
                warnings.append(
                    f"wave {wave.name!r} is the last wave: it takes the remaining "
                    f"{len(remaining)} instance(s) whatever its selector"
                )
        elif wave.select is None:
            taken = remaining
            warnings.append(f"wave {wave.name!r} has no selector: it takes all the rest")
        else:
            taken = _take(wave, remaining, actionable)
        if not taken:
            warnings.append(f"wave {wave.name!r} ({describe(wave.select, last)}) selects no instance")
        taken_ids = {i.instance_id for i in taken}
        remaining = [i for i in remaining if i.instance_id not in taken_ids]
        members = tuple(
            PlannedInstance(
                instance_id=i.instance_id,
                wave=wave.name,
                platform=i.platform,
                patch_group=i.patch_group or "",
                baseline=states[i.instance_id].baseline_id if i.instance_id in states else "",
                preset=presets[i.instance_id][0],
                reason=presets[i.instance_id][1],
                missing_by_severity=dict(compliance[i.instance_id].non_compliant_by_severity)
                if i.instance_id in compliance
                else {},
            )
            for i in taken
        )
        to_install = sum(m.to_install for m in members)
        waves.append(
            WavePlan(
                name=wave.name,
                index=index,
                members=members,
                max_concurrency=concurrency_for(wave.max_concurrency, to_install),
                max_errors=errors_tolerated(wave.max_errors, to_install),
                require_approval=wave.require_approval,
                selector=describe(wave.select, last),
            )
        )
    return Plan(window.name, tuple(waves), tuple(warnings))


def exclude(wave: WavePlan, instance_ids: set[str], reason: str) -> WavePlan:
    """The wave without some instances (they will be reported not_attempted, with the reason)."""
    members = tuple(
        dataclasses.replace(m, preset=Outcome.NOT_ATTEMPTED, reason=reason)
        if m.instance_id in instance_ids and m.to_install
        else m
        for m in wave.members
    )
    return dataclasses.replace(wave, members=members)
