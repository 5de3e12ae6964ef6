"""Task results kept per flow run, so that a retried run (Prefect UI "Retry", or flow retries)
repeats nothing that finished: the same targets, scan, plan and finished waves come back from
persisted results instead of running again."""

from __future__ import annotations

from typing import Any

from prefect.context import TaskRunContext
from prefect.runtime import flow_run


def _plain(value: Any) -> Any:
    unquote = getattr(value, "unquote", None)
    return unquote() if callable(unquote) else value


def per_flow_run(context: TaskRunContext, parameters: dict[str, Any]) -> str | None:
    """One result per task (and wave, and attempt scope) per flow run."""
    run_id = flow_run.get_id()
    if run_id is None:
        return None
    wave = _plain(parameters.get("wave"))
    scope = parameters.get("scope", "")
    parts = [str(run_id), context.task.name, getattr(wave, "name", ""), str(scope)]
    return ":".join(p for p in parts if p)
