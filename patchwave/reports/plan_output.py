"""Plan output for scripts and narrow terminals: JSON, and a console wide enough for whole ids.

Rich fits a table to the terminal (80 columns when piped) by cutting cells; an instance id cut
short is worse than a long line, so the plan is printed at least as wide as its widest row.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from rich.console import Console
from rich.measure import Measurement
from rich.table import Table

from patchwave.config.snapshots import SnapshotSettings
from patchwave.window.planning import Plan, WavePlan


def wide_console(table: Table) -> Console:
    """A console as wide as the terminal, or as the table's unwrapped columns need."""
    probe = Console()
    needed = Measurement.get(probe, probe.options.update(width=10_000), table).maximum
    return Console(width=max(probe.width, needed))


def gate_lines(gates: Mapping[str, Any]) -> list[str]:
    """The gates under the plan table: freeze status at the planned start, alarms per wave."""
    when = gates["planned_start"]
    if gates["frozen"]:
        lines = [f"freeze: FROZEN at the planned start ({when}): {gates['freeze_reason']}"]
    else:
        calendars = ", ".join(gates["change_calendars"])
        lines = [f"freeze: none at the planned start ({when})"]
        if calendars:
            lines[0] += f"; calendars OPEN: {calendars}"
    for wave, names in gates["alarms"].items():
        lines.append(f"wave {wave}: alarms watched: {', '.join(names) if names else 'none'}")
    return lines


def wave_snapshots(wave: WavePlan, settings: SnapshotSettings | None) -> dict[str, object]:
    """Whether a wave's instances are snapshotted before their install, and for how long kept."""
    enabled = settings is not None and settings.enabled
    return {
        "enabled": enabled,
        "instances": len(wave.install_ids) if enabled else 0,
        "retention_days": settings.retention_days if settings is not None and enabled else 0,
        "on_premises_not_installed": sum(i.startswith("mi-") for i in wave.install_ids) if enabled else 0,
    }


def snapshot_lines(plan: Plan, settings: SnapshotSettings | None) -> list[str]:
    lines = []
    for wave in plan.waves:
        taken = wave_snapshots(wave, settings)
        lines.append(
            f"wave {wave.name}: EBS snapshots of {taken['instances']} instance(s) before install, "
            f"kept {taken['retention_days']} day(s) (rollback possible)"
            + (
                f"; {taken['on_premises_not_installed']} on-premises node(s) cannot be snapshotted "
                "and will not be installed"
                if taken["on_premises_not_installed"]
                else ""
            )
            if taken["enabled"]
            else f"wave {wave.name}: no snapshots before install (no rollback)"
        )
    return lines


def plan_json(
    plan: Plan,
    targets: int,
    snapshots: SnapshotSettings | None = None,
    gates: Mapping[str, Any] | None = None,
    drains: Mapping[str, Any] | None = None,
    rollouts: list[dict[str, Any]] | None = None,
) -> str:
    waves = [
        {
            "name": wave.name,
            "selector": wave.selector,
            "max_concurrency": wave.max_concurrency,
            "max_errors": wave.max_errors,
            "require_approval": wave.require_approval,
            "snapshots": wave_snapshots(wave, snapshots),
            **({"drain_and_hooks": drains.get(wave.name)} if drains is not None else {}),
            "instances": [
                {
                    "instance_id": m.instance_id,
                    "platform": m.platform,
                    "patch_group": m.patch_group,
                    "baseline": m.baseline,
                    "action": "install" if m.preset is None else m.preset.value,
                    "reason": m.reason,
                    "missing_by_severity": dict(m.missing_by_severity),
                }
                for m in wave.members
            ],
        }
        for wave in plan.waves
    ]
    return json.dumps(
        {
            "window": plan.window,
            "targets": targets,
            "to_install": sum(len(w.install_ids) for w in plan.waves),
            "waves": waves,
            "warnings": list(plan.warnings),
            **({"gates": dict(gates)} if gates is not None else {}),
            **({"rollouts": rollouts} if rollouts else {}),
        },
        indent=2,
    )
