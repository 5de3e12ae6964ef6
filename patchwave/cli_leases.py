"""``patchwave leases list|release``: see which runs hold instances, free a dead run's leases.

They read the lease store runs use: the DynamoDB table ``config/aws.yaml`` names
(``shared.leases_table``: every worker's leases), else the SQLite file of this machine
(``--db``, default ``$PATCHWAVE_LEASES`` or ``~/.patchwave/leases.sqlite``). A run that died
keeps its leases (and its claim on the run, which refuses a ``--resume``) until its heartbeat
is older than the staleness; an operator who knows it is dead need not wait: ``release --run
ID`` frees them (it asks first; ``--yes``).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Protocol

import typer
from rich.console import Console
from rich.table import Table

from patchwave.errors import PatchwaveError
from patchwave.state.holder import RunHolder
from patchwave.state.leases import Holder
from patchwave.state.ledger import check_run_id
from patchwave.state.sqlite_leases import SqliteLeases, default_path

leases_app = typer.Typer(
    help="Instance leases: which runs hold instances, and freeing a dead run's.", no_args_is_help=True
)
console = Console()
err = Console(stderr=True)

DbOpt = Annotated[
    Path | None,
    typer.Option(
        "--db",
        help="A SQLite lease file (default: the DynamoDB table of config/aws.yaml when it names one, "
        "else $PATCHWAVE_LEASES or ~/.patchwave/leases.sqlite).",
    ),
]
ConfigOpt = Annotated[
    Path, typer.Option("--config", help="Config folder whose aws.yaml may name a shared lease table.")
]


class LeaseStore(Protocol):
    """What these commands need of a lease store (SqliteLeases, DynamoLeases)."""

    stale_after: dt.timedelta

    def list_holders(self) -> list[Holder]: ...

    def list_claims(self) -> list[RunHolder]: ...

    def release_run(self, run_id: str) -> int: ...


def _refuse(message: object, code: int = 2) -> typer.Exit:
    err.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)
    return typer.Exit(code)


def _open(db: Path | None, config_dir: Path) -> LeaseStore:
    if db is None and (config_dir / "aws.yaml").exists():
        from patchwave.config.aws import AwsSettings
        from patchwave.config.loader import load_model

        try:
            settings = load_model(AwsSettings, config_dir / "aws.yaml")
        except PatchwaveError as exc:
            raise _refuse(exc) from None
        if settings.shared.leases_table:
            from patchwave.aws.dynamodb import DynamoLeases
            from patchwave.aws.shared import open_shared

            leases = open_shared(settings)[0]
            if isinstance(leases, DynamoLeases):
                return leases
    path = db or default_path()
    if not path.is_file():
        raise _refuse(f"no lease file at {path}")
    return SqliteLeases(path)


def _read(leases: LeaseStore) -> tuple[list[Holder], dict[str, RunHolder]]:
    """Holders and claims, or one line (exit 1) when the store cannot be read."""
    try:
        return leases.list_holders(), {c.run_id: c for c in leases.list_claims()}
    except Exception as exc:  # noqa: BLE001 - an unreachable store (AWS error) is one line
        raise _refuse(f"cannot read the lease store: {type(exc).__name__}: {exc}", 1) from None


def _age(now: dt.datetime, moment: dt.datetime) -> str:
    return str(dt.timedelta(seconds=max(0, int((now - moment).total_seconds()))))


@leases_app.command("list")
def list_leases(db: DbOpt = None, config: ConfigOpt = Path("config")) -> None:
    """Runs holding leases or claimed by a process: how many instances, which process,
    heartbeat age, and whether they look dead."""
    leases = _open(db, config)
    holders, claims = _read(leases)
    if not holders and not claims:
        console.print("no leases held")
        return
    now = dt.datetime.now(dt.UTC)
    table = Table("run", "instances", "holder", "heartbeat age", "state", "expires")
    rows = {h.run_id: h for h in holders}
    for run in sorted(rows.keys() | claims.keys()):
        held, claim = rows.get(run), claims.get(run)
        beat = claim.heartbeat if claim else held.heartbeat if held else now
        state = "stale (holder dead?)" if now - beat >= leases.stale_after else "live"
        table.add_row(
            run,
            str(held.instances if held else 0),
            claim.holder if claim else held.holder if held else "",
            _age(now, beat),
            state,
            held.until.isoformat(timespec="seconds") if held else "",
        )
    console.print(table)


@leases_app.command("release")
def release(
    run: Annotated[str, typer.Option("--run", help="The run id whose leases to free.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
    db: DbOpt = None,
    config: ConfigOpt = Path("config"),
) -> None:
    """Free every lease a run holds, and its claim. Only for a run that is dead: a live one
    would go on operating on instances another run may now take."""
    try:
        check_run_id(run)
    except PatchwaveError as exc:
        raise _refuse(exc) from None
    leases = _open(db, config)
    holders, claims = _read(leases)
    held = next((h for h in holders if h.run_id == run), None)
    claim = claims.get(run)
    if held is None and claim is None:
        console.print(f"run {run} holds no leases", markup=False, highlight=False)
        return
    beat = claim.heartbeat if claim else held.heartbeat if held else dt.datetime.now(dt.UTC)
    age = int((dt.datetime.now(dt.UTC) - beat).total_seconds())
    count = held.instances if held else 0
    question = f"free {count} lease(s) of run {run} (last heartbeat {age} s ago)?"
    if not yes and not typer.confirm(question, default=False):
        console.print("nothing released")
        raise typer.Exit(1)
    freed = leases.release_run(run)
    console.print(f"released {freed} lease(s) of run {run}", markup=False, highlight=False)
