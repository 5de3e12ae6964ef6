"""Every measure of a stretch of history, as one JSON-ready dict: what the CLI prints, what
``--json`` writes, what the HTML page and the Prefect artifacts draw from."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from patchwave.history.measures import (
    compliance_trend,
    fell_out_of_compliance,
    sla_breaches,
    time_to_patch,
    window_success,
)
from patchwave.history.records import RunRecord


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _compliant(aggregate: dict[str, Any]) -> str:
    if not aggregate:
        return ""
    return f"{aggregate.get('compliant', 0)}/{aggregate.get('total', 0)}"


def summarise_history(
    runs: Sequence[RunRecord], policy: dict[str, int], as_of: dt.datetime | None = None
) -> dict[str, Any]:
    rates = {r.run_id: r for r in window_success(runs)}
    return {
        "runs": [
            {
                "run_id": r.run_id,
                "kind": r.kind,
                "name": r.name,
                "started_at": _iso(r.started_at),
                "finished_at": _iso(r.finished_at),
                "status": r.status,
                "imported": r.imported,
                "instances": len(r.instances),
                "compliant_before": _compliant(r.before),
                "compliant_after": _compliant(r.after),
                "before": r.before,
                "after": r.after,
                "outcomes": r.outcomes(),
                "success_rate": round(rates[r.run_id].rate, 1) if r.run_id in rates else None,
            }
            for r in runs
        ],
        "trend": [
            {
                "run_id": p.run_id,
                "kind": p.kind,
                "name": p.name,
                "at": _iso(p.at),
                "observed": p.observed,
                "compliant": p.compliant,
                "percent_compliant": round(p.percent, 1),
                "non_compliant_by_severity": p.by_severity,
                "by_group": {g: {"compliant": c, "observed": n} for g, (c, n) in p.by_group.items()},
            }
            for p in compliance_trend(runs)
        ],
        "time_to_patch": {
            basis: [
                {
                    "severity": t.severity,
                    "count": t.count,
                    "mean_days": round(t.mean_days, 2),
                    "p90_days": round(t.p90_days, 2),
                }
                for t in time_to_patch(runs, basis)
            ]
            for basis in ("release", "first_seen")
        },
        "sla_policy_days": dict(policy),
        "sla_breaches": [
            {
                "instance_id": b.instance_id,
                "patch_id": b.patch_id,
                "severity": b.severity,
                "due": _iso(b.due),
                "installed_at": _iso(b.installed_at),
                "open": b.installed_at is None,
                "days_late": round(b.days_late, 2),
            }
            for b in sla_breaches(runs, policy, as_of)
        ],
        "fell_out_of_compliance": [
            {
                "instance_id": f.instance_id,
                "compliant_at": _iso(f.compliant_at),
                "compliant_run": f.compliant_run,
                "non_compliant_at": _iso(f.non_compliant_at),
                "non_compliant_run": f.non_compliant_run,
                "patches": list(f.patches),
            }
            for f in fell_out_of_compliance(runs)
        ],
        "window_success": [
            {
                "run_id": w.run_id,
                "kind": w.kind,
                "name": w.name,
                "at": _iso(w.at),
                "planned": w.planned,
                "online": w.online,
                "succeeded": w.succeeded,
                "rate": round(w.rate, 1),
            }
            for w in rates.values()
        ],
    }
