"""Plan output for scripts and narrow terminals: JSON, and a console wide enough for whole ids.

Rich fits a table to the terminal (80 columns when piped) by cutting cells; an instance id cut
short is worse than a long line, so the plan is printed at least as wide as its widest row.
"""

from __future__ import annotations

import json

from rich.console import Console
from rich.measure import Measurement
from rich.table import Table

from patchwave.window.planning import Plan


def wide_console(table: Table) -> Console:
    """A console as wide as the terminal, or as the table's unwrapped columns need."""
    probe = Console()
    needed = Measurement.get(probe, probe.options.update(width=10_000), table).maximum
    return Console(width=max(probe.width, needed))


def plan_json(plan: Plan, targets: int) -> str:
    waves = [
        {
            "name": wave.name,
            "selector": wave.selector,
            "max_concurrency": wave.max_concurrency,
            "max_errors": wave.max_errors,
            "require_approval": wave.require_approval,
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
        },
        indent=2,
    )
