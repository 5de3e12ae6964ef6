"""The patchwave command line (floor 4).

Exit codes: 0 success; 1 the run finished but the window halted, was cut off or failed;
2 bad input (config, fleet spec, arguments): one message naming the file, field and value, and
no call to any fleet.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from patchwave.cli_help import flags_without_type_label
from patchwave.cli_history import history_app
from patchwave.cli_leases import leases_app
from patchwave.cli_options import DEMO_FLEET, ConfigOpt, FleetOpt, SpeedOpt
from patchwave.cli_rollback import rollback_command, snapshots_app
from patchwave.cli_rollout import rollout_app
from patchwave.errors import ConfigError, PatchwaveError

flags_without_type_label()

app = typer.Typer(
    help="Staged patch windows for AWS Systems Manager fleets, orchestrated by Prefect.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
baselines_app = typer.Typer(help="Patch baselines as code.", no_args_is_help=True)
app.add_typer(baselines_app, name="baselines")
app.add_typer(leases_app, name="leases")
app.add_typer(history_app, name="history")
app.add_typer(snapshots_app, name="snapshots")
app.command("rollback")(rollback_command)
app.add_typer(rollout_app, name="rollout")  # patchwave/cli_rollout.py

console = Console()
err = Console(stderr=True)


def safe(text: object) -> str:
    from patchwave.reports.console import safe as escaped

    return escaped(text)


def fail(error: Exception, code: int = 2) -> typer.Exit:
    """Print one line on stderr; the caller raises the returned Exit."""
    from patchwave.reports.console import strip_control

    message = f"error: {strip_control(error)}"
    err.print(message, style="bold red", highlight=False, markup=False, soft_wrap=True)
    return typer.Exit(code)


def _prefect_quiet(verbose: bool) -> None:
    """Offline Prefect for the CLI (set before Prefect is imported): runs log at INFO to
    Prefect (the UI shows phases, waves, halts), the terminal shows warnings only unless -v."""
    from patchwave.prefect_env import prefect_environment

    prefect_environment(verbose)


def _parse_tags(values: list[str]) -> dict[str, list[str]]:
    from patchwave.config.windows import check_tag_key

    tags: dict[str, list[str]] = {}
    for value in values:
        key, sep, tag_value = value.partition("=")
        if not sep or not key or not tag_value:
            raise ConfigError("--tag", "tag", value, "expected KEY=VALUE")
        try:
            check_tag_key(key)
        except ValueError as exc:
            raise ConfigError("--tag", "tag", value, str(exc)) from None
        tags.setdefault(key, []).append(tag_value)
    return tags


def _speed(value: float | None) -> float | None:
    from patchwave.config.parameters import check_speed

    return check_speed(value, "--speed")


def _load(config_dir: Path) -> Any:
    from patchwave.config import load_config

    return load_config(config_dir)


def _open(config_dir: Path, fleet: str, speed: float | None = None) -> Any:
    """Validate config and fleet option, then open the fleet (raises before any call)."""
    from patchwave.config import load_config
    from patchwave.connect import open_fleet

    config = load_config(config_dir)
    return config, open_fleet(fleet, config, speed)


def _validate_fleet_option(config_dir: Path, fleet: str) -> Any:
    """Everything a flow would refuse, refused here first, without building a fleet."""
    from patchwave.config import load_config
    from patchwave.connect import parse_fleet_option

    config = load_config(config_dir)
    kind, path = parse_fleet_option(fleet)
    if kind == "sim":
        from patchwave.sim import load_spec, state_file

        if "{account}" not in path and "{region}" not in path:  # else one spec per member account
            spec = load_spec(path)
            if spec.state_file:
                state_file.check_free(Path(spec.state_file))  # one writer at a time
    else:
        from patchwave.aws import open_aws

        open_aws(config.aws)  # credentials and region, checked before any flow starts
    return config


def _check_run_inputs(
    window: str, config_dir: Path, report_dir: Path, report_json: Path | None, resume: str | None
) -> None:
    """Before any fleet call: the report folder takes files, ``--resume`` names a run of
    this window whose ledger reads back."""
    from patchwave.connect import open_run_store
    from patchwave.state.ledger import check_resumable, check_run_id, check_writable

    if resume is not None:  # reads only; in the shared store when config/aws.yaml names one
        ledger = open_run_store(_load(config_dir)).ledger(str(report_dir), check_run_id(resume))
        where = str(ledger.path) if str(ledger.path).startswith("s3://") else str(report_dir / ".runs")
        check_resumable(ledger.entries(), resume, window, where)
    check_writable(report_dir, "--report-dir")  # last: the one check that creates a folder
    if report_json is not None:
        check_writable(report_json.parent, "--report-json")


PATCH_HELP = (
    "Install this, approved or not (InstallOverrideList): an advisory (ALAS..., RHSA..., USN..., "
    "SUSE-SU...), a CVE, a KB or a package; repeat."
)


def _check_patches(names: list[str]) -> None:
    from patchwave.window.named import check_names

    try:
        check_names(names)
    except ValueError as exc:
        raise ConfigError("--patch", "patch", None, str(exc)) from None


def _run_window_cli(
    window: str,
    config_dir: Path,
    fleet: str,
    report_dir: Path,
    report_json: Path | None,
    speed: float | None,
    verbose: bool,
    resume: str | None = None,
    patches: list[str] | None = None,
) -> None:
    try:
        speed = _speed(speed)
        if resume is not None:  # first: another live process of this run is refused outright
            from patchwave.connect import check_run_free

            check_run_free(fleet, _load(config_dir), resume)
        config = _validate_fleet_option(config_dir, fleet)
        config.window(window)
        _check_run_inputs(window, config_dir, report_dir, report_json, resume)
        _check_patches(patches or [])
    except PatchwaveError as exc:
        raise fail(exc) from None
    _prefect_quiet(verbose)
    from flows.patch_window import patch_window

    console.print(f"[bold]patchwave[/bold] window [cyan]{safe(window)}[/cyan] on {safe(fleet)}")
    _run_flow_with_progress(
        patch_window,
        window=window,
        config_dir=str(config_dir),
        fleet=fleet,
        report_dir=str(report_dir),
        report_json=str(report_json) if report_json else None,
        speed=speed,
        resume=resume,
        patches=patches or None,
    )


def _run_flow_with_progress(flow_fn: Any, **parameters: Any) -> None:
    """Run a window-shaped flow in this process with live progress, then print its report."""
    from patchwave.prefect_env import PrefectUnavailable, prefect_start_failure
    from patchwave.reports.console import LiveProgress, before_after_table, strip_control, waves_table

    state = None
    prefect_gone = False
    with LiveProgress(console) as live:
        try:
            state = flow_fn(**parameters, return_state=True)
        except Exception as exc:  # noqa: BLE001 - Prefect itself failed, not the window
            if not [f for f in live.finished if f.kind == "window"]:
                reason = prefect_start_failure(exc)
                raise fail(PrefectUnavailable(reason) if reason else exc, 1) from None
            prefect_gone = True
            err.print(
                f"warning: Prefect failed after the report was written ({type(exc).__name__}); "
                "the report below is complete, the run's state in Prefect may be stale",
                highlight=False,
                markup=False,
            )
    reports = [f for f in live.finished if f.kind == "window"]
    if not reports:
        if state is None:
            raise fail(RuntimeError("the run ended before writing its report"), 1)
        try:
            state.result()
        except PatchwaveError as exc:
            raise fail(exc) from None
        except Exception as exc:  # noqa: BLE001 - show the run's failure as one line
            raise fail(exc, 1) from None
        raise fail(RuntimeError(f"the run ended {state.name} without a report"), 1)
    report, paths = reports[-1].payload, reports[-1].paths
    console.print(waves_table(report))
    console.print(before_after_table(report))
    problems = [i for i in report.instances if i.outcome.value not in ("patched", "already_compliant")]
    for item in problems:
        console.print(
            strip_control(
                f"  {item.instance_id} [{item.wave}] {item.outcome.value}: "
                + (item.error or item.status_details)
            ),
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
    for decision in report.decisions:
        console.print(
            strip_control(
                f"approval of wave {decision.wave}: {decision.decision} {decision.decided_by} {decision.note}"
            ),
            highlight=False,
            markup=False,
        )
    calls = sum(report.api_calls.values())
    console.print(f"API calls: {calls} ({', '.join(f'{k} {v}' for k, v in report.api_calls.items())})")
    for kind, path in paths.items():  # whole paths and ids, never wrapped: they get copied
        console.print(
            f"report ({kind}): {strip_control(path)}", soft_wrap=True, highlight=False, markup=False
        )
    failed = state is not None and state.is_failed()
    shown = "failed" if failed and report.status == "succeeded" else report.status
    console.print(
        f"[bold]{shown}[/bold] (run {safe(report.run_id)}): "
        + ", ".join(f"{k} {v}" for k, v in report.totals.items() if v),
        soft_wrap=True,
    )
    code = 0
    if failed or report.status in ("halted", "cut_off", "aborted"):
        if failed and state is not None and state.message:
            err.print(state.message, highlight=False, markup=False, soft_wrap=True)
        code = 1
    if prefect_gone:
        _exit_without_prefect(code)
    if code:
        raise typer.Exit(code)


def _exit_without_prefect(code: int) -> None:
    """Exit now, the report and ledger written: Prefect's event and log queues would otherwise
    retry a server that is gone, item by item, for minutes before the process may end."""
    err.print("Prefect's API is unreachable: its queued events and logs are dropped", highlight=False)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


@app.command()
def demo(
    speed: SpeedOpt = None,
    report_dir: Annotated[Path, typer.Option(help="Where reports are written.")] = Path("reports"),
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show Prefect's logs.")] = False,
    rollout: Annotated[bool, typer.Option("--rollout", help="Run the demo-rings rollout instead.")] = False,
) -> None:
    """Run the weekly-test window on the simulated demo fleet, with live progress and a report."""
    if rollout:  # patchwave/cli_rollout.py
        from patchwave.cli_rollout import run_rollout

        return run_rollout("demo-rings", Path("config"), DEMO_FLEET, report_dir, speed, resume=False)
    _run_window_cli("weekly-test", Path("config"), DEMO_FLEET, report_dir, None, speed, verbose)


@app.command()
def run(
    window: Annotated[str, typer.Option("--window", "-w", help="The window to run.")],
    config: ConfigOpt = Path("config"),
    fleet: FleetOpt = DEMO_FLEET,
    report_dir: Annotated[Path, typer.Option(help="Where reports are written.")] = Path("reports"),
    report_json: Annotated[Path | None, typer.Option(help="Write the JSON report here.")] = None,
    speed: SpeedOpt = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show Prefect's logs.")] = False,
    resume: Annotated[
        str | None, typer.Option("--resume", help="Pick up a run that died (its run id), from its ledger.")
    ] = None,
    patch: Annotated[list[str] | None, typer.Option("--patch", help=PATCH_HELP)] = None,
) -> None:
    """Run a patch window: scan, compliance, plan, waves, report."""
    _run_window_cli(window, config, fleet, report_dir, report_json, speed, verbose, resume, patch)


@app.command()
def scan(
    config: ConfigOpt = Path("config"),
    fleet: FleetOpt = DEMO_FLEET,
    window: Annotated[str | None, typer.Option("--window", "-w", help="Scan this window's targets.")] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="KEY=VALUE; repeat for more.")] = None,
    speed: SpeedOpt = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Scan instances (AWS-RunPatchBaseline Scan) and show compliance by severity."""
    try:
        speed = _speed(speed)
        tags = _parse_tags(tag or [])
        cfg = _validate_fleet_option(config, fleet)
        if window is not None:
            cfg.window(window)
    except PatchwaveError as exc:
        raise fail(exc) from None
    _prefect_quiet(verbose)
    from flows.scan_fleet import scan_fleet
    from patchwave.reports.console import LiveProgress, compliance_table, patch_group_table

    with LiveProgress(console) as live:
        state = scan_fleet(
            config_dir=str(config),
            fleet=fleet,
            window=window,
            tags=tags or None,
            speed=speed,
            return_state=True,
        )
    results = [f for f in live.finished if f.kind == "compliance"]
    if not results:
        raise fail(RuntimeError(f"scan ended {state.name}: {state.message}"), 1)
    report = results[-1].payload
    console.print(compliance_table("Compliance after scan", report))
    console.print(patch_group_table(report))
    for line in report.headlines():
        console.print(safe(line))


@app.command()
def compliance(
    config: ConfigOpt = Path("config"),
    fleet: FleetOpt = DEMO_FLEET,
    window: Annotated[str | None, typer.Option("--window", "-w", help="Only this window's targets.")] = None,
    output_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show last reported compliance by severity and patch group (read-only, no scan)."""
    from patchwave.compliance.summary import summarise
    from patchwave.reports.console import compliance_table, patch_group_table
    from patchwave.window.targeting import select

    try:
        targets = _load(config).window(window).targets if window else None  # refused before any fleet
        cfg, handle = _open(config, fleet)
    except PatchwaveError as exc:
        raise fail(exc) from None
    instances = handle.fleet.list_instances()
    chosen = select(instances, targets) if targets is not None else instances
    report = summarise(chosen, handle.fleet.compliance([i.instance_id for i in chosen]))
    if output_json:
        console.print_json(report.model_dump_json())
        return
    console.print(compliance_table("Last reported compliance", report))
    console.print(patch_group_table(report))
    for line in report.headlines():
        console.print(safe(line))


@app.command()
def plan(
    window: Annotated[str, typer.Option("--window", "-w", help="The window to plan.")],
    config: ConfigOpt = Path("config"),
    fleet: FleetOpt = DEMO_FLEET,
    output_json: Annotated[bool, typer.Option("--json", help="Print the plan as JSON.")] = False,
) -> None:
    """Show the waves a window would run, from last reported compliance; changes nothing."""
    from patchwave.reports.console import plan_table
    from patchwave.window.planning import plan_window
    from patchwave.window.targeting import select

    try:
        spec = _load(config).window(window)  # refused before any fleet is built
        cfg, handle = _open(config, fleet)
    except PatchwaveError as exc:
        raise fail(exc) from None
    from patchwave.window.named import needs_by_named, resolve_names

    try:  # with named patches, a run plans by "is one missing", so the preview does too
        source, field = f"window {spec.name}", "install_override"
        named = (
            resolve_names(handle.fleet, spec.install_override, source, field)
            if spec.install_override
            else None
        )
        targets = select(handle.fleet.list_instances(), spec.targets)
        ids = [t.instance_id for t in targets]
        needs = (
            needs_by_named(handle.fleet, targets, named, source, field)
            if named
            else handle.fleet.compliance(ids)
        )
    except PatchwaveError as exc:
        raise fail(exc) from None
    result = plan_window(spec, targets, handle.fleet.patch_states(ids), needs)
    from patchwave.window.gates import plan_gates, planned_start

    schedule = spec.schedule
    cron, zone = (schedule.cron, schedule.timezone) if schedule else (None, "UTC")
    at = planned_start(cron, zone, handle.clock.now())
    waves_alarms = [(w.name, w.alarms) for w in spec.waves]
    gates = plan_gates(handle.fleet, [cfg.windows.freezes, spec.freezes], spec.alarms, waves_alarms, at)
    from patchwave.reports.plan_drain import drain_lines, plan_drains

    drains = plan_drains(handle.fleet, spec, result)
    from patchwave.reports.plan_rings import ring_lines, stored_rings

    try:  # a ring of a rollout: its place, bake, gate and patch set (patchwave/reports/plan_rings.py)
        rings = stored_rings(cfg, spec.name)
    except PatchwaveError as exc:
        raise fail(exc) from None
    if output_json:
        from patchwave.reports.plan_output import plan_json

        sys.stdout.write(plan_json(result, len(targets), spec.snapshot, gates, drains, rings) + "\n")
        return
    from patchwave.reports.plan_output import snapshot_lines, wide_console

    table = plan_table(result)
    out = wide_console(table)  # instance ids whole, whatever the terminal's width or a pipe
    out.print(table)
    for warning in result.warnings:
        out.print(f"[yellow]warning:[/yellow] {safe(warning)}")
    for line in snapshot_lines(result, spec.snapshot):
        out.print(safe(line))
    from patchwave.reports.plan_output import gate_lines

    for line in gate_lines(gates):
        out.print(line, highlight=False, markup=False, soft_wrap=True)
    for line in drain_lines(drains, result) + ring_lines(rings):
        out.print(line, highlight=False, markup=False, soft_wrap=True)
    to_install = sum(len(w.install_ids) for w in result.waves)
    out.print(
        f"{len(targets)} target(s), {to_install} to install in {len(result.waves)} wave(s). "
        "A run scans first, so the plan it follows may differ."
    )


@baselines_app.command("preview")
def baselines_preview(
    config: ConfigOpt = Path("config"),
    baseline: Annotated[str | None, typer.Option(help="Only this baseline.")] = None,
    on: Annotated[
        str | None, typer.Option("--date", help="Evaluate on this date (YYYY-MM-DD); default today.")
    ] = None,
) -> None:
    """Which patches each baseline approves or rejects, at which compliance level."""
    from patchwave.baselines.catalog import builtin_catalog
    from patchwave.baselines.evaluate import evaluate, predefined_baselines
    from patchwave.config import load_config
    from patchwave.reports.console import verdict_table

    try:
        cfg = load_config(config)
        try:
            when = dt.date.fromisoformat(on) if on else dt.datetime.now(dt.UTC).date()
        except ValueError:
            raise ConfigError("--date", "date", on, "expected YYYY-MM-DD") from None
        chosen = list(cfg.baselines.baselines)
        configured_defaults = {b.operating_system for b in chosen if b.default_for_os}
        chosen += [
            b for b in predefined_baselines().baselines if b.operating_system not in configured_defaults
        ]
        if baseline is not None:
            chosen = [b for b in chosen if b.name == baseline]
            if not chosen:
                raise ConfigError(
                    str(config / "baselines.yaml"), "baselines[].name", baseline, "no such baseline"
                )
    except PatchwaveError as exc:
        raise fail(exc) from None
    for item in chosen:
        verdicts = evaluate(item, builtin_catalog(item.operating_system).patches, when)
        console.print(verdict_table(item, verdicts, when.isoformat()))


ReportDirOpt = Annotated[Path, typer.Option(help="Where reports are written.")]


@app.command()
def emergency(
    reason: Annotated[str, typer.Option(help="Why: recorded in the report.")],
    instance: Annotated[
        list[str] | None, typer.Option("--instance", "-i", help="Instance id; repeat.")
    ] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="KEY=VALUE; repeat.")] = None,
    patch: Annotated[list[str] | None, typer.Option("--patch", help=PATCH_HELP)] = None,
    canary: Annotated[bool, typer.Option("--canary/--no-canary", help="Patch one instance first.")] = True,
    max_concurrency: Annotated[str, typer.Option(help='"N" or "N%".')] = "10%",
    max_errors: Annotated[str, typer.Option(help='"N" or "N%".')] = "0",
    reboot: Annotated[str, typer.Option(help="if_needed | never | controlled")] = "if_needed",
    config: ConfigOpt = Path("config"),
    fleet: FleetOpt = DEMO_FLEET,
    report_dir: ReportDirOpt = Path("reports"),
    speed: SpeedOpt = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
    override_freeze: Annotated[
        str,
        typer.Option("--override-freeze", help="Run during a freeze; the reason (recorded in the report)."),
    ] = "",
) -> None:
    """Patch named instances now (canary first), outside any schedule."""
    from patchwave.config.loader import validate as validate_model
    from patchwave.window.emergency import EmergencyRequest

    try:
        speed = _speed(speed)
        request = validate_model(
            EmergencyRequest,
            {
                "reason": reason,
                "instance_ids": instance or [],
                "tags": _parse_tags(tag or []),
                "patches": patch or [],
                "canary": canary,
                "max_concurrency": max_concurrency,
                "max_errors": max_errors,
                "reboot": reboot,
                "override_freeze": override_freeze,
            },
            "emergency",
        )
        _validate_fleet_option(config, fleet)
    except PatchwaveError as exc:
        raise fail(exc) from None
    _prefect_quiet(verbose)
    from flows.emergency_patch import emergency_patch

    console.print(f"[bold]patchwave[/bold] emergency patching on {safe(fleet)}: {safe(request.reason)}")
    _run_flow_with_progress(
        emergency_patch,
        request=request,
        config_dir=str(config),
        fleet=fleet,
        report_dir=str(report_dir),
        speed=speed,
    )


@app.command()
def retry(
    report: Annotated[Path | None, typer.Option("--report", help="The earlier run's JSON report.")] = None,
    run_id: Annotated[str | None, typer.Option("--run-id", help="The earlier run's flow run id.")] = None,
    config: ConfigOpt = Path("config"),
    fleet: FleetOpt = DEMO_FLEET,
    report_dir: ReportDirOpt = Path("reports"),
    speed: SpeedOpt = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Retry only the failed and not attempted instances of an earlier run, in their waves."""
    from patchwave.window.retry import check_one_run, find_report, load_report

    try:
        speed = _speed(speed)
        check_one_run(report, run_id, "--report", "--run-id")
        if report or not _shared_report(config, report_dir, str(run_id)):
            load_report(report if report else find_report(report_dir, str(run_id)))
        _validate_fleet_option(config, fleet)
    except PatchwaveError as exc:
        raise fail(exc) from None
    _prefect_quiet(verbose)
    from flows.retry_failed import retry_failed

    _run_flow_with_progress(
        retry_failed,
        report=str(report) if report else None,
        run_id=run_id,
        config_dir=str(config),
        fleet=fleet,
        report_dir=str(report_dir),
        speed=speed,
    )


def _shared_report(config_dir: Path, report_dir: Path, run_id: str) -> bool:
    """A run's report fetched from the shared store into ``report_dir``, when there is one."""
    from patchwave.connect import open_run_store

    fetched = open_run_store(_load(config_dir)).fetch_report(str(report_dir), run_id)
    if fetched is not None:
        from patchwave.window.retry import load_report

        load_report(fetched)
    return fetched is not None


@app.command()
def approve(
    flow_run_id: Annotated[str, typer.Argument(help="The paused window run.")],
    abort: Annotated[bool, typer.Option("--abort", help="Abort the window instead.")] = False,
    exclude: Annotated[
        list[str] | None, typer.Option("--exclude", help="Leave this instance out; repeat.")
    ] = None,
    by: Annotated[str, typer.Option("--by", help="Who decides.")] = "",
    note: Annotated[str, typer.Option("--note", help="Why.")] = "",
) -> None:
    """Answer a wave waiting for approval (needs PREFECT_API_URL to the run's server)."""
    import uuid as uuid_module

    try:
        run = uuid_module.UUID(flow_run_id)
    except ValueError:
        raise fail(ConfigError("approve", "FLOW_RUN_ID", flow_run_id, "not a flow run id (UUID)")) from None
    _prefect_quiet(False)
    from prefect.flow_runs import resume_flow_run

    from flows.approval import ApprovalInput

    answer = ApprovalInput(approve=not abort, exclude_instances=exclude or [], decided_by=by, note=note)
    try:
        resume_flow_run(run, run_input=answer.model_dump())
    except Exception as exc:  # noqa: BLE001 - the server's answer, as one line
        raise fail(RuntimeError(f"could not resume {flow_run_id}: {exc}"), 1) from None
    console.print(f"{'aborted' if abort else 'approved'}: {flow_run_id}")


@app.command()
def serve(
    config: ConfigOpt = Path("config"),
    fleet: FleetOpt = DEMO_FLEET,
    report_dir: ReportDirOpt = Path("reports"),
    speed: SpeedOpt = None,
) -> None:
    """Serve every window as a scheduled deployment from this process (Ctrl-C stops; the
    schedules stay active for the next serve)."""
    try:
        speed = _speed(speed)
        cfg = _validate_fleet_option(config, fleet)
    except PatchwaveError as exc:
        raise fail(exc) from None
    _prefect_quiet(False)
    os.environ["PREFECT_LOGGING_LEVEL"] = "INFO"  # served runs log phases and waves to the UI
    if not os.environ.get("PREFECT_API_URL"):
        err.print("warning: PREFECT_API_URL is not set: the deployments live only as long as this process")
    from deployments.windows import serve_windows

    serve_windows(cfg, fleet, str(report_dir), speed)


@app.command()
def deploy(
    work_pool: Annotated[str, typer.Option("--work-pool", help="The work pool whose workers run them.")],
    config: ConfigOpt = Path("config"),
    fleet: FleetOpt = DEMO_FLEET,
    report_dir: ReportDirOpt = Path("reports"),
    speed: SpeedOpt = None,
) -> None:
    """Create or update a deployment per window for a work pool (and remove those of deleted windows)."""
    try:
        speed = _speed(speed)
        cfg = _validate_fleet_option(config, fleet)
    except PatchwaveError as exc:
        raise fail(exc) from None
    _prefect_quiet(False)
    from deployments.windows import deploy_windows

    for name in deploy_windows(cfg, fleet, str(report_dir), speed, work_pool):
        console.print(f"deployed {name} to work pool {work_pool}")


def _account(config_dir: Path) -> Any:
    from patchwave.aws.session import AwsClients, check_credentials, make_session
    from patchwave.config import load_config

    config = load_config(config_dir)
    clients = AwsClients(make_session(config.aws))
    check_credentials(clients)
    return config, clients


@baselines_app.command("diff")
def baselines_diff(config: ConfigOpt = Path("config")) -> None:
    """What `baselines apply` would change in the account (exit 1 when something would)."""
    from patchwave.aws.baselines import read_account
    from patchwave.baselines.sync import plan_changes

    try:
        cfg, clients = _account(config)
        changes = plan_changes(cfg.baselines, read_account(clients.ssm))
    except (PatchwaveError, ValueError) as exc:
        raise fail(exc) from None
    for change in changes:
        console.print(str(change), highlight=False, markup=False)
    console.print(f"{len(changes)} change(s)" if changes else "no changes: the account matches the config")
    if changes:
        raise typer.Exit(1)


@baselines_app.command("apply")
def baselines_apply(config: ConfigOpt = Path("config")) -> None:
    """Create or update baselines, register patch groups and defaults; idempotent."""
    from patchwave.aws.baselines import BaselineCallFailed, apply_changes, read_account
    from patchwave.baselines.sync import plan_changes

    try:
        cfg, clients = _account(config)
        account = read_account(clients.ssm)
        changes = plan_changes(cfg.baselines, account)
        done = apply_changes(clients.ssm, cfg.baselines, account, changes)
    except BaselineCallFailed as exc:
        for line in exc.done:
            console.print(f"applied: {line}", highlight=False, markup=False)
        for line in exc.not_done:
            console.print(f"not applied: {line}", highlight=False, markup=False)
        raise fail(exc) from None
    except (PatchwaveError, ValueError) as exc:
        raise fail(exc) from None
    for line in done:
        console.print(f"applied: {line}", highlight=False, markup=False)
    console.print(f"{len(changes)} change(s) applied" if changes else "nothing to do")


@baselines_app.command("export")
def baselines_export(
    config: ConfigOpt = Path("config"),
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write YAML here.")] = None,
) -> None:
    """The account's own baselines as baselines.yaml, to adopt them as code."""
    import yaml

    from patchwave.aws.baselines import export

    try:
        _, clients = _account(config)
        text = yaml.safe_dump(export(clients.ssm), sort_keys=False)
    except PatchwaveError as exc:
        raise fail(exc) from None
    if output is None:
        sys.stdout.write(text)
    else:
        from patchwave.reports.report import write_atomic

        write_atomic(output, text)
        console.print(f"wrote {output}")


@app.command()
def validate(
    config: ConfigOpt = Path("config"),
    fleet: Annotated[str | None, typer.Option("--fleet", "-f", help="Also validate this fleet.")] = None,
) -> None:
    """Validate the config (and a fleet spec); exit 2 with one message on the first problem."""
    from patchwave.config import load_config

    try:
        cfg = _validate_fleet_option(config, fleet) if fleet else load_config(config)
    except PatchwaveError as exc:
        raise fail(exc) from None
    console.print(
        f"ok: {len(cfg.baselines.baselines)} baseline(s), {len(cfg.windows.windows)} window(s)"
        + (f", fleet {fleet}" if fleet else "")
    )


class SchemaKind(StrEnum):
    baselines = "baselines"
    windows = "windows"
    fleet = "fleet"


@app.command()
def schema(
    kind: Annotated[SchemaKind, typer.Argument(help="Which file's schema.")] = SchemaKind.windows,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file.")] = None,
) -> None:
    """Print the JSON Schema of a config file, for editors that validate YAML."""
    from pydantic import BaseModel

    from patchwave.config import BaselinesFile, WindowsFile
    from patchwave.sim.spec import FleetSpec

    models: dict[str, type[BaseModel]] = {
        "baselines": BaselinesFile,
        "windows": WindowsFile,
        "fleet": FleetSpec,
    }
    model = models[kind.value]
    text = json.dumps(model.model_json_schema(), indent=2)
    if output is None:
        sys.stdout.write(text + "\n")
    else:
        from patchwave.reports.report import write_atomic

        write_atomic(output, text + "\n")
        console.print(f"wrote {output}")


from patchwave.cli_setup import setup  # noqa: E402 - its own module, registered here

app.command()(setup)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
