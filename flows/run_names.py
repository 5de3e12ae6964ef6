"""Run names an operator can tell apart in the Prefect UI's run list (never Prefect's random
adjective-animal): the window and when it started, what a retry retries, why an emergency."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from prefect.runtime import flow_run


def _param(name: str) -> Any:
    return (flow_run.parameters or {}).get(name)


def _when() -> str:
    scheduled = flow_run.scheduled_start_time
    moment = scheduled if isinstance(scheduled, dt.datetime) else dt.datetime.now(dt.UTC)
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def window_run_name() -> str:
    return f"{_param('window')} {_when()}"


def retry_run_name() -> str:
    run_id, report = _param("run_id"), _param("report")
    earlier = run_id or (Path(str(report)).stem if report else "?")
    return f"retry of {earlier}"


def emergency_run_name() -> str:
    request = _param("request")
    reason = request.get("reason", "") if isinstance(request, dict) else getattr(request, "reason", "")
    return f"emergency: {str(reason)[:60]}" if reason else f"emergency {_when()}"
