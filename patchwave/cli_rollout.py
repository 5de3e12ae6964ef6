"""``patchwave rollout start|status|promote|abort``: rings with a frozen patch set.

Bad input (unknown rollout, bad rollouts.yaml, a promote with no failed ring) is one line on
stderr and exit 2, before any fleet is opened. A rollout whose gate fails exits 1 with the reason
(or, with ``--pause``, waits for a decision). The state is read from and written to the history
store that ``<config>/history.yaml`` names.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from patchwave.cli_options import DEMO_FLEET, ConfigOpt, FleetOpt, SpeedOpt
from patchwave.errors import PatchwaveError

if TYPE_CHECKING:
    from patchwave.window.rollout import RolloutState

rollout_app = typer.Typer(help="Rollouts: rings of windows, ring 1's patch set frozen for the others.")

ReportDirOpt = Annotated[
    Path, typer.Option("--report-dir", help="Reports (a legacy .rollouts/NAME.json there is migrated).")
]
ReasonOpt = Annotated[str, typer.Option("--reason", help="Why (recorded in the rollout state).")]


PauseOpt = Annotated[
    bool,
    typer.Option(
        "--pause/--no-pause",
        help="At a failed gate, wait (the rollout's pause_hours) for a promote/abort answered in the "
        "Prefect UI or with `rollout promote|abort`; default: exit 1 at once.",
    ),
]


def run_rollout(
    name: str,
    config: Path,
    fleet: str,
    report_dir: Path,
    speed: float | None,
    resume: bool,
    pause: bool = False,
) -> None:
    """Validate, run the flow, print the state; exit 1 when a gate fails."""
    from patchwave.cli import _prefect_quiet, _speed, _validate_fleet_option, fail

    _prefect_quiet(False)  # before anything imports Prefect: the terminal shows warnings only
    try:
        speed = _speed(speed)
        _validate_fleet_option(config, fleet)
        from flows.rollout import find_rollout

        find_rollout(str(config), name)
    except PatchwaveError as exc:
        raise fail(exc) from None
    from flows.rollout import rollout

    state = rollout(
        name=name,
        config_dir=str(config),
        fleet=fleet,
        report_dir=str(report_dir),
        speed=speed,
        after_promote=resume,
        pause=pause,
        return_state=True,
    )
    _print_summary(config, report_dir, name)
    typer.echo(f"rollout {name}: {state.name}: {state.message}")
    if not state.is_completed():
        raise typer.Exit(1)


def _state(config: Path, report_dir: Path, name: str) -> RolloutState | None:
    """The rollout's state from the history store history.yaml names (a legacy state file
    under ``report_dir`` is migrated into it first)."""
    from patchwave.history.rollouts import load_rollout, open_rollout_store

    store = open_rollout_store(config)
    try:
        return load_rollout(store, name, report_dir)
    finally:
        store.close()


def _check_reason(reason: str) -> None:
    from patchwave.errors import ConfigError

    if not reason.strip():
        raise ConfigError("rollout", "--reason", reason, "a reason is required")


def _mark(config: Path, report_dir: Path, name: str, status: str, reason: str) -> RolloutState:
    """Promote or abort: one transaction on the history store."""
    from flows.rollout import mark
    from patchwave.history.rollouts import open_rollout_store

    store = open_rollout_store(config)
    try:
        return mark(store, name, status, reason, report_dir=str(report_dir))
    finally:
        store.close()


def _answer_paused(config: Path, report_dir: Path, name: str, decision: str, reason: str) -> bool:
    """A rollout run paused at a failed gate gets the decision through Prefect's API, as the
    UI's form would send it (False: no run waits, or it no longer does: decide here)."""
    state = _state(config, report_dir, name)
    if state is None or not state.paused_run:
        return False
    from uuid import UUID

    from prefect.flow_runs import resume_flow_run

    from flows.rollout_pause import RingDecision

    answer = RingDecision(decision=decision, reason=reason)  # type: ignore[arg-type]
    try:
        resume_flow_run(UUID(state.paused_run), run_input=answer.model_dump())
    except Exception as exc:  # noqa: BLE001 - not paused any more, or the API is away
        typer.echo(f"rollout {name}: run {state.paused_run} does not wait any more ({exc})", err=True)
        return False
    typer.echo(f"rollout {name}: {decision} sent to the paused run {state.paused_run}")
    return True


def _print_summary(config: Path, report_dir: Path, name: str) -> None:
    """One line per ring (window, status, run id, reason) and the frozen set per platform."""
    from patchwave.reports.console import strip_control

    saved = _state(config, report_dir, name)
    if saved is None:
        return
    for index, ring in enumerate(saved.rings, 1):
        line = f"ring {index} {ring.window}: {ring.status} (run {ring.run_id or '-'}) {ring.reason}"
        typer.echo(strip_control(line.rstrip()))
    for platform, ids in sorted(saved.frozen.items()):
        typer.echo(strip_control(f"frozen set {platform}: {len(ids)} package(s): {', '.join(ids)}"))


@rollout_app.command("start")
def start(
    name: str,
    config: ConfigOpt = Path("config"),
    fleet: FleetOpt = DEMO_FLEET,
    report_dir: ReportDirOpt = Path("reports"),
    speed: SpeedOpt = None,
    pause: PauseOpt = False,
) -> None:
    """Run the rollout's rings in order (bake, gate, next ring)."""
    run_rollout(name, config, fleet, report_dir, speed, resume=False, pause=pause)


@rollout_app.command("status")
def status(name: str, config: ConfigOpt = Path("config"), report_dir: ReportDirOpt = Path("reports")) -> None:
    """The rollout's state (from the history store), as JSON."""
    from patchwave.cli import fail
    from patchwave.errors import ConfigError

    try:
        state = _state(config, report_dir, name)
    except PatchwaveError as exc:
        raise fail(exc) from None
    if state is None:
        raise fail(ConfigError("rollout status", "name", name, "no rollout state"))
    typer.echo(json.dumps(asdict(state), indent=2, sort_keys=True))


@rollout_app.command("promote")
def promote(
    name: str,
    reason: ReasonOpt,
    config: ConfigOpt = Path("config"),
    fleet: FleetOpt = DEMO_FLEET,
    report_dir: ReportDirOpt = Path("reports"),
    speed: SpeedOpt = None,
) -> None:
    """Promote the ring that failed its gate: the paused run goes on with the next ring, else
    the ring is marked promoted here and the remaining rings run."""
    from patchwave.cli import fail

    try:
        _check_reason(reason)
        if _answer_paused(config, report_dir, name, "promote", reason):
            return
        _mark(config, report_dir, name, "promoted", reason)
    except PatchwaveError as exc:
        raise fail(exc) from None
    run_rollout(name, config, fleet, report_dir, speed, resume=True)


@rollout_app.command("abort")
def abort(
    name: str,
    reason: ReasonOpt,
    config: ConfigOpt = Path("config"),
    report_dir: ReportDirOpt = Path("reports"),
) -> None:
    """End the rollout: no further ring runs (a paused run is answered and ends Cancelled)."""
    from patchwave.cli import fail

    try:
        _check_reason(reason)
        if _answer_paused(config, report_dir, name, "abort", reason):
            return
        _mark(config, report_dir, name, "aborted", reason)
    except PatchwaveError as exc:
        raise fail(exc) from None
    typer.echo(f"rollout {name}: aborted")
