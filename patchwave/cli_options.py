"""The command-line options every command that runs on a fleet shares, in one place: the main
CLI (``cli.py``) and the command modules it registers (``cli_rollback.py``, ``cli_rollout.py``)
import them from here, since they cannot import ``cli.py`` at load time (it imports them)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

DEMO_FLEET = "sim:config/fleets/demo.yaml"
ConfigOpt = Annotated[
    Path,
    typer.Option(
        "--config", "-c", help="The config folder (baselines.yaml, windows.yaml, ...)."
    ),
]
FleetOpt = Annotated[str, typer.Option("--fleet", "-f", help="'sim:PATH' (a simulated fleet spec) or 'aws'.")]
SpeedOpt = Annotated[
    float | None,
    typer.Option(
        "--speed",
        help="Simulated fleets: run the clock this many times faster than real time "
        "(0: virtual time, as fast as possible).",
    ),
]
