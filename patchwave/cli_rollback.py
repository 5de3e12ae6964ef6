"""``patchwave rollback`` and ``patchwave snapshots prune``: the way back after a bad patch, and
the clean-up of pre-patch snapshots past their retention.

rollback: every input is checked before any fleet call (the run's report exists, each
``--instance`` is in the run and has a pre-patch snapshot: else one line, exit 2); it shows what
it will restore and asks first (``--yes`` skips the question); then the rollback flow runs
(in this process, as the other commands' flows do). Exit 0 when every instance is restored and
healthy, 1 otherwise.

snapshots prune: lists the snapshots past their delete-after tag, asks, deletes (DeleteSnapshot,
one call each); nothing else is ever deleted.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from patchwave.cli_options import DEMO_FLEET, ConfigOpt, FleetOpt, SpeedOpt
from patchwave.errors import PatchwaveError

snapshots_app = typer.Typer(
    help="Pre-patch EBS snapshots: prune those past their retention.", no_args_is_help=True
)
console = Console()

RunIdOpt = Annotated[str, typer.Option("--run-id", help="The run whose instances to restore.")]
InstanceOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--instance", help="An instance of that run to restore (repeat); default: those that failed."
    ),
]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
ReportDirOpt = Annotated[Path, typer.Option("--report-dir", help="Where the run's reports are.")]


def rollback_command(
    run_id: RunIdOpt,
    instance: InstanceOpt = None,
    yes: YesOpt = False,
    config: ConfigOpt = Path("config"),
    fleet: FleetOpt = DEMO_FLEET,
    report_dir: ReportDirOpt = Path("reports"),
    speed: SpeedOpt = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Restore instances of a run to their pre-patch root volume (replace-root-volume task),
    wait for them to come back and verify their health; recorded in the run's report."""
    from patchwave.cli import _prefect_quiet, _speed, _validate_fleet_option, fail
    from patchwave.connect import open_run_store
    from patchwave.reports.console import strip_control
    from patchwave.reports.plan_output import wide_console
    from patchwave.window.rollback import plan_rollback

    try:
        speed = _speed(speed)
        cfg = _validate_fleet_option(config, fleet)
        path, report, chosen = plan_rollback(open_run_store(cfg), str(report_dir), run_id, instance or [])
    except PatchwaveError as exc:
        raise fail(exc) from None
    by_id = {i.instance_id: i for i in report.instances}
    table = Table("instance", "wave", "outcome", "root volume snapshot", title=f"Rollback of run {run_id}")
    for iid in chosen:
        item = by_id[iid]
        table.add_row(iid, strip_control(item.wave), item.outcome.value, item.snapshots[0])
    wide_console(table).print(table)  # whole ids: they get copied
    if not yes:
        typer.confirm(
            f"Restore {len(chosen)} instance(s) to their pre-patch root volume? Each reboots, "
            "and what was written to its root volume since the snapshot is replaced",
            abort=True,
        )
    _prefect_quiet(verbose)
    from flows.rollback import rollback
    from patchwave.window.retry import load_report

    before = len(report.rollbacks)
    state = rollback(
        run_id=run_id,
        instances=chosen,
        config_dir=str(config),
        fleet=fleet,
        report_dir=str(report_dir),
        speed=speed,
        return_state=True,
    )
    amended = load_report(path)
    if len(amended.rollbacks) <= before:
        raise fail(
            RuntimeError(f"the rollback ended {state.name} without recording a result: {state.message}"), 1
        )
    section = amended.rollbacks[-1]
    for entry in section.entries:
        console.print(
            strip_control(
                f"  {entry.instance_id}: {entry.result} "
                f"(snapshot {entry.snapshot_id}, task {entry.task_id or '-'})"
                + (f": {entry.error}" if entry.error else "")
            ),
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
    console.print(f"report: {path}", soft_wrap=True, highlight=False, markup=False)
    if any(e.result != "restored" for e in section.entries) or state.is_failed():
        raise typer.Exit(1)


@snapshots_app.command("prune")
def prune(
    yes: YesOpt = False,
    config: ConfigOpt = Path("config"),
    fleet: FleetOpt = DEMO_FLEET,
) -> None:
    """Delete the pre-patch snapshots past their delete-after tag (asks first)."""
    from patchwave.cli import _open, fail
    from patchwave.reports.plan_output import wide_console
    from patchwave.window.snapshots import TAG_DELETE_AFTER, expired

    try:
        _, handle = _open(config, fleet)
        found = expired(handle.fleet.tagged_snapshots(), handle.clock.now().astimezone(dt.UTC).date())
    except PatchwaveError as exc:
        raise fail(exc) from None
    if not found:
        console.print("no snapshot past its delete-after date")
        return
    table = Table("snapshot", "instance", "volume", "delete after", title="Expired pre-patch snapshots")
    for snapshot in found:
        table.add_row(
            snapshot.snapshot_id, snapshot.instance_id, snapshot.volume_id, snapshot.tags[TAG_DELETE_AFTER]
        )
    wide_console(table).print(table)
    if not yes:
        typer.confirm(f"Delete {len(found)} snapshot(s)?", abort=True)
    for snapshot in found:
        handle.fleet.delete_snapshot(snapshot.snapshot_id)
    console.print(f"deleted {len(found)} snapshot(s)")
