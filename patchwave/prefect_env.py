"""How the CLI sets Prefect up, and the one line it prints when Prefect cannot start.

With no PREFECT_API_URL a run starts Prefect's temporary server. On a busy 2-core machine
(a fresh clone, the test suite beside it) that took 55 s where Prefect waits 20 s by default,
so the first ``make demo`` failed with a traceback; patchwave waits up to 4 minutes.
Logging: runs log at INFO to Prefect (what the UI shows), while the terminal's handler shows
warnings only unless ``-v``. Environment variables set by the user win.
"""

from __future__ import annotations

import os

from patchwave.errors import PatchwaveError

STARTUP_TIMEOUT_SECONDS = 240


class PrefectUnavailable(PatchwaveError):
    """Prefect could not be started or reached before the run began."""


def prefect_environment(verbose: bool) -> None:
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", str(STARTUP_TIMEOUT_SECONDS))
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "INFO")
    if verbose:
        os.environ["PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL"] = "0"
        os.environ["PREFECT_LOGGING_LEVEL"] = "INFO"
    else:
        os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "WARNING")


def prefect_start_failure(exc: BaseException) -> str | None:
    """One line saying what to do when Prefect's server could not be started or reached."""
    text = str(exc)
    if "Timed out while attempting to connect to ephemeral Prefect API server" in text:
        wait = os.environ.get("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", STARTUP_TIMEOUT_SECONDS)
        return (
            f"Prefect's temporary server did not start within {wait} s (is the machine busy?): "
            "run the command again, or raise PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS, or start "
            "`prefect server start` and set PREFECT_API_URL=http://127.0.0.1:4200/api"
        )
    api = os.environ.get("PREFECT_API_URL")
    if api and type(exc).__name__ in ("ConnectError", "ConnectTimeout") and "patchwave" not in text:
        return (
            f"Prefect's API at {api} is unreachable: start it (`prefect server start`) "
            "or unset PREFECT_API_URL"
        )
    return None
