"""rollouts.yaml -> one deployment of the ``rollout`` flow per rollout.

A rollout is started on its first ring's schedule: the deployment takes that window's cron and
time zone, and every ring window's own deployment loses its schedule (it stays, to run the
window by hand): ring 1 run twice on one night, once outside the rollout, would freeze nothing,
and a later ring run on its own would install what its baseline approves, not ring 1's set.
Runs of the deployment pause at a failed gate for a typed decision (the UI's form).
"""

from __future__ import annotations

from typing import Any

from prefect.schedules import Cron

from flows.rollout import rollout
from patchwave.config import Config
from patchwave.config.rollouts import load_rollouts

ENTRYPOINT = "flows/rollout.py:rollout"


def rollout_specs(config: Config, base: dict[str, Any], tag: str) -> list[dict[str, Any]]:
    """One spec per rollout (a bad rollouts.yaml is refused here, in one line)."""
    windows = {w.name: w for w in config.windows.windows}
    specs = []
    for spec in load_rollouts(config.directory, set(windows)).rollouts:
        first = windows[spec.rings[0].window]
        when = (
            f"Starts on ring 1's schedule: {first.schedule.cron} in {first.schedule.timezone}."
            if first.schedule
            else "No schedule (ring 1 has none): run it by hand."
        )
        specs.append(
            {
                "flow": rollout,
                "name": f"rollout-{spec.name}",
                "schedules": [Cron(first.schedule.cron, timezone=first.schedule.timezone)]
                if first.schedule
                else [],
                "parameters": {"name": spec.name, **base},
                "tags": [tag, f"rollout:{spec.name}"],
                "description": f"Rollout {spec.name}: rings {', '.join(r.window for r in spec.rings)}; "
                f"later rings install ring 1's frozen patch set. {when}",
            }
        )
    return specs


def unschedule_rings(config: Config, specs: list[dict[str, Any]]) -> None:
    """A ring window's own deployment keeps no schedule: its rollout runs it."""
    rings = {
        ring.window
        for spec in load_rollouts(config.directory, {w.name for w in config.windows.windows}).rollouts
        for ring in spec.rings
    }
    for spec in specs:
        if spec["name"] in rings and spec["schedules"]:
            spec["schedules"] = []
            spec["description"] += " Its rollout runs it (ring of a rollout in rollouts.yaml)."
