"""``patchwave leases list|release``: see which runs hold instances, free a dead run's leases.

A run that died keeps its leases until its heartbeat is older than the staleness; an operator
who knows it is dead need not wait: ``release --run ID`` frees them (it asks first; ``--yes``).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from patchwave.errors import PatchwaveError
from patchwave.state.ledger import check_run_id
from patchwave.state.sqlite_leases import SqliteLeases, default_path

leases_app = typer.Typer(
    help="Instance leases: which runs hold instances, and freeing a dead run's.", no_args_is_help=True
)
console = Console()
err = Console(stderr=True)

DbOpt = Annotated[
    Path | None,
    typer.Option("--db", help="The lease file (default $PATCHWAVE_LEASES or ~/.patchwave/leases.sqlite)."),
]


def _open(db: Path | None) -> SqliteLeases:
    path = db or default_path()
    if not path.is_file():
        err.print(f"error: no lease file at {path}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(2)
    return SqliteLeases(path)


@leases_app.command("list")
def list_leases(db: DbOpt = None) -> None:
    """Runs holding leases: how many instances, heartbeat age, and whether they look dead."""
    leases = _open(db)
    holders = leases.list_holders()
    if not holders:
        console.print("no leases held")
        return
    now = dt.datetime.now(dt.UTC)
    table = Table("run", "instances", "heartbeat age", "state", "expires")
    for holder in holders:
        age = holder.age(now)
        state = "stale (holder dead?)" if age >= leases.stale_after else "live"
        table.add_row(
            holder.run_id,
            str(holder.instances),
            str(dt.timedelta(seconds=int(age.total_seconds()))),
            state,
            holder.until.isoformat(timespec="seconds"),
        )
    console.print(table)


@leases_app.command("release")
def release(
    run: Annotated[str, typer.Option("--run", help="The run id whose leases to free.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
    db: DbOpt = None,
) -> None:
    """Free every lease a run holds. Only for a run that is dead: a live one would go on
    operating on instances another run may now take."""
    try:
        check_run_id(run)
    except PatchwaveError as exc:
        err.print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    leases = _open(db)
    held = next((h for h in leases.list_holders() if h.run_id == run), None)
    if held is None:
        console.print(f"run {run} holds no leases", markup=False, highlight=False)
        return
    age = dt.datetime.now(dt.UTC) - held.heartbeat
    question = (
        f"free {held.instances} lease(s) of run {run} (last heartbeat {int(age.total_seconds())} s ago)?"
    )
    if not yes and not typer.confirm(question, default=False):
        console.print("nothing released")
        raise typer.Exit(1)
    count = leases.release_run(run)
    console.print(f"released {count} lease(s) of run {run}", markup=False, highlight=False)
