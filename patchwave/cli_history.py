"""``patchwave history``: compliance history in the terminal, as JSON, or as an HTML page;
``patchwave history import``: seed history from what Systems Manager still has.

Reads the store directly (no Prefect run): history is a database query, not an operation.
Registered in ``cli.py``; bad input is one line on stderr and exit 2, before the store is opened.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from patchwave.errors import ConfigError, PatchwaveError

history_app = typer.Typer(
    help="Compliance history: trends, time to patch, SLA breaches.",
    invoke_without_command=True,
    no_args_is_help=False,
)
console = Console()
err = Console(stderr=True)

ConfigOpt = Annotated[Path, typer.Option("--config", "-c", help="Folder with history.yaml (optional).")]
UrlOpt = Annotated[
    str | None, typer.Option("--url", help="Store URL (sqlite:///PATH or postgresql+psycopg://...).")
]


def _fail(error: Exception, code: int = 2) -> typer.Exit:
    err.print(f"error: {error}", style="bold red", highlight=False, markup=False, soft_wrap=True)
    return typer.Exit(code)


def parse_since(value: str | None, now: dt.datetime) -> dt.datetime | None:
    """'YYYY-MM-DD' or 'Nd' (N days before now)."""
    if value is None:
        return None
    text = value.strip()
    if text.endswith("d") and text[:-1].isdigit():
        return now - dt.timedelta(days=int(text[:-1]))
    try:
        return dt.datetime.combine(dt.date.fromisoformat(text), dt.time(), tzinfo=dt.UTC)
    except ValueError:
        raise ConfigError(
            "--since", "since", value, "expected YYYY-MM-DD or a number of days like 30d"
        ) from None


def _settings(config: Path, url: str | None) -> Any:
    from patchwave.config.history import StoreSettings, load_history_settings
    from patchwave.config.loader import validate

    settings = load_history_settings(config)
    if url is not None:
        validate(StoreSettings, {"url": url}, "--url")
    return settings


@history_app.callback()
def history(
    ctx: typer.Context,
    config: ConfigOpt = Path("config"),
    url: UrlOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Everything as JSON on stdout.")] = False,
    html: Annotated[
        Path | None, typer.Option("--html", help="Write a self-contained HTML page here.")
    ] = None,
    since: Annotated[str | None, typer.Option("--since", help="YYYY-MM-DD or Nd (last N days).")] = None,
    severity: Annotated[str | None, typer.Option("--severity", help="Only patches of this severity.")] = None,
    group: Annotated[str | None, typer.Option("--group", help="Only instances of this patch group.")] = None,
) -> None:
    """Compliance over time, time to patch, SLA breaches, instances that fell out of compliance."""
    if ctx.invoked_subcommand is not None:
        return
    from patchwave.config.baselines import COMPLIANCE_LEVELS

    try:
        settings = _settings(config, url)
        start = parse_since(since, dt.datetime.now(dt.UTC))
        if severity is not None and severity.upper() not in COMPLIANCE_LEVELS:
            raise ConfigError("--severity", "severity", severity, f"one of {', '.join(COMPLIANCE_LEVELS)}")
    except PatchwaveError as exc:
        raise _fail(exc) from None
    from patchwave.history.html import to_html
    from patchwave.history.measures import narrow
    from patchwave.history.opening import open_store
    from patchwave.history.summary import summarise_history

    store = open_store(settings, url)
    try:
        runs = narrow(store.runs(start), severity.upper() if severity else None, group)
    finally:
        store.close()
    summary = summarise_history(runs, settings.sla_days)
    if html is not None:
        from patchwave.reports.report import write_atomic

        write_atomic(html, to_html(summary))
        console.print(f"wrote {html}")
    if as_json:
        sys.stdout.write(json.dumps(summary, indent=2) + "\n")
    elif html is None:
        print_summary(summary)


def _pair(before: dict[str, Any], after: dict[str, Any], level: str) -> str:
    if not before and not after:
        return ""
    b = (before.get("instances_by_severity") or {}).get(level, "")
    a = (after.get("instances_by_severity") or {}).get(level, "")
    return f"{b} -> {a}"


def print_summary(summary: dict[str, Any]) -> None:
    if not summary["runs"]:
        console.print(
            "No history recorded yet: run a window or a scan (patchwave demo), or patchwave history import."
        )
        return
    runs = Table(title="Runs (compliant instances and instances with critical issues, before -> after)")
    for column in ("started", "kind", "name", "status", "instances", "compliant", "critical", "success %"):
        runs.add_column(column)
    for r in summary["runs"]:
        compliant = (
            f"{r['compliant_before']} -> {r['compliant_after']}" if r["before"] else r["compliant_after"]
        )
        runs.add_row(
            r["started_at"][:16],
            r["kind"] + (" (imported)" if r["imported"] else ""),
            r["name"],
            r["status"],
            str(r["instances"]),
            compliant,
            _pair(r["before"], r["after"], "CRITICAL"),
            "" if r["success_rate"] is None else f"{r['success_rate']:.1f}",
        )
    console.print(runs)
    trend = Table(title="Compliance over time (instances observed by each run)")
    levels = ("CRITICAL", "HIGH", "MEDIUM", "LOW")
    for column in ("at", "run", "observed", "compliant %", *[lvl.lower() for lvl in levels]):
        trend.add_column(column)
    for p in summary["trend"]:
        trend.add_row(
            p["at"][:16],
            p["name"],
            str(p["observed"]),
            f"{p['percent_compliant']:.1f}",
            *[str(p["non_compliant_by_severity"].get(lvl, 0)) for lvl in levels],
        )
    console.print(trend)
    ttp = Table(title="Time to patch (days): from release | from first seen missing")
    for column in ("severity", "n", "mean", "p90", "n ", "mean ", "p90 "):
        ttp.add_column(column)
    first_seen = {t["severity"]: t for t in summary["time_to_patch"]["first_seen"]}
    for t in summary["time_to_patch"]["release"]:
        f = first_seen.get(t["severity"], {})
        ttp.add_row(
            t["severity"],
            str(t["count"]),
            str(t["mean_days"]),
            str(t["p90_days"]),
            str(f.get("count", "")),
            str(f.get("mean_days", "")),
            str(f.get("p90_days", "")),
        )
    console.print(ttp)
    breaches = summary["sla_breaches"]
    policy = ", ".join(f"{k} {v}d" for k, v in summary["sla_policy_days"].items())
    console.print(f"SLA breaches ({policy}): {len(breaches)} ({sum(b['open'] for b in breaches)} still open)")
    for b in breaches[:10]:
        state = "open" if b["open"] else f"installed {b['installed_at'][:10]}"
        console.print(
            f"  {b['instance_id']} {b['patch_id']} {b['severity']} due {b['due'][:10]}: {state}, "
            f"{b['days_late']:.1f} days late"
        )
    fell = summary["fell_out_of_compliance"]
    console.print(f"Fell out of compliance between runs: {len(fell)}")
    for f in fell[:10]:
        console.print(
            f"  {f['instance_id']}: compliant {f['compliant_at'][:16]}, not {f['non_compliant_at'][:16]}"
        )


@history_app.command("import")
def import_history(
    config: Annotated[Path, typer.Option("--config", "-c", help="Folder with the config files.")] = Path(
        "config"
    ),
    fleet: Annotated[str, typer.Option("--fleet", "-f", help="'aws' or 'sim:PATH'.")] = "aws",
    url: UrlOpt = None,
) -> None:
    """Seed history from what Systems Manager still has (the latest report of every node)."""
    try:
        settings = _settings(config, url)
        from patchwave.config import load_config
        from patchwave.connect import open_fleet

        handle = open_fleet(fleet, load_config(config))
    except PatchwaveError as exc:
        raise _fail(exc) from None
    from patchwave.history.seed import import_from_fleet

    store_url = url or settings.store.resolved_url()
    run = import_from_fleet(handle.fleet, handle.description, handle.clock.now(), settings, store_url)
    console.print(f"imported {len(run.instances)} instance(s) as run {run.run_id} into {store_url}")
