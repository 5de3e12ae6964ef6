"""A ring that fails its gate inside a flow run pauses it for a typed RingDecision, answered
through Prefect's API exactly as the UI's form sends it (a real Prefect server: the session's
test server): promote goes on with the next ring, abort ends the rollout Cancelled, no answer
within pause_hours leaves it failed_gate, and the CLI still decides afterwards."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from flows.rollout_pause import RingDecision
from patchwave.cli import app
from patchwave.window.rollout import RolloutState
from tests.test_rollouts import FLEET, config_copy

pytestmark = pytest.mark.usefixtures("prefect_harness")
runner = CliRunner()


def gated(pause_hours: float) -> str:
    """Ring 1 (the web servers, one of which fails its install) cannot pass a 100% gate."""
    return f"""
rollouts:
  - name: paused
    pause_hours: {pause_hours}
    rings:
      - {{window: rings-web, bake_minutes: 0, min_success_rate: 1.0}}
      - {{window: rings-canary, bake_minutes: 0, min_success_rate: 0.0}}
"""


def start(folder: Path, tmp_path: Path) -> tuple[threading.Thread, dict[str, Any]]:
    from flows.rollout import rollout

    result: dict[str, Any] = {}

    def go() -> None:
        result["state"] = rollout(
            name="paused",
            config_dir=str(folder),
            fleet=FLEET,
            report_dir=str(tmp_path / "r"),
            speed=0,
            return_state=True,
        )

    thread = threading.Thread(target=go)
    thread.start()
    return thread, result


def stored(folder: Path) -> RolloutState:
    from patchwave.history.rollouts import open_rollout_store

    state = open_rollout_store(folder).rollout("paused")
    assert state is not None
    return state


def waiting_run(folder: Path) -> str:
    from patchwave.history.rollouts import open_rollout_store

    state = open_rollout_store(folder).rollout("paused")
    return state.paused_run if state is not None else ""


def wait_paused(folder: Path, timeout: float = 90) -> UUID:
    """The run the stored state says waits, once Prefect has it Paused."""
    from prefect.client.orchestration import get_client

    deadline = time.monotonic() + timeout
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            waiting = waiting_run(folder)
            if waiting:
                state = client.read_flow_run(UUID(waiting)).state
                if state is not None and state.is_paused():
                    return UUID(waiting)
            time.sleep(0.3)
    raise AssertionError("the rollout never paused")


def test_the_form_refuses_bad_input() -> None:
    assert RingDecision(decision="promote", reason="known flaky host").decision == "promote"
    for bad in (
        {"decision": "maybe", "reason": "x"},
        {"decision": "abort", "reason": ""},
        {"decision": "abort", "reason": "  "},
    ):
        with pytest.raises(ValidationError):
            RingDecision.model_validate(bad)


def test_promote_through_the_api_goes_on_with_the_next_ring(tmp_path: Path) -> None:
    from prefect.flow_runs import resume_flow_run

    folder = config_copy(tmp_path, gated(1))
    thread, result = start(folder, tmp_path)
    run_id = wait_paused(folder)
    assert stored(folder).rings[0].status == "failed_gate"
    for bad in ({"decision": "maybe", "reason": "x"}, {"decision": "promote", "reason": ""}):
        with pytest.raises(RuntimeError, match="Cannot resume"):  # the server checks the schema
            resume_flow_run(run_id, run_input=bad)
    resume_flow_run(run_id, run_input={"decision": "promote", "reason": "i-0e3f5a7c9b1d2f4a6 is known flaky"})
    thread.join(120)
    assert result["state"].is_completed(), result["state"].message
    state = stored(folder)
    assert [(r.status, r.reason) for r in state.rings] == [
        ("promoted", "i-0e3f5a7c9b1d2f4a6 is known flaky"),
        ("passed", ""),
    ]
    assert (state.status, state.paused_run) == ("passed", "")


def test_cli_abort_answers_the_paused_run_and_it_ends_cancelled(tmp_path: Path) -> None:
    folder = config_copy(tmp_path, gated(1))
    thread, result = start(folder, tmp_path)
    run_id = wait_paused(folder)
    aborted = runner.invoke(
        app, ["rollout", "abort", "paused", "--reason", "bad kernel", "--config", str(folder)]
    )
    assert aborted.exit_code == 0 and f"abort sent to the paused run {run_id}" in aborted.output
    thread.join(120)
    final = result["state"]
    assert final.is_cancelled() and "bad kernel" in final.message
    state = stored(folder)
    assert (state.status, state.reason) == ("aborted", "bad kernel")
    assert [r.status for r in state.rings] == ["aborted", "aborted"]


def test_no_answer_leaves_it_failed_gate_and_the_cli_promotes_afterwards(tmp_path: Path) -> None:
    folder = config_copy(tmp_path, gated(0.001))  # 3.6 seconds
    thread, result = start(folder, tmp_path)
    thread.join(120)
    final = result["state"]
    assert final.is_failed()  # Prefect's server fails a pause that expired; the store says why
    state = stored(folder)
    assert (state.status, state.paused_run, state.rings[0].status) == ("failed_gate", "", "failed_gate")
    common = ["--config", str(folder), "--speed", "0", "--report-dir", str(tmp_path / "r")]
    promoted = runner.invoke(app, ["rollout", "promote", "paused", "--reason", "checked by hand", *common])
    assert promoted.exit_code == 0, promoted.output
    assert [r.status for r in stored(folder).rings] == ["promoted", "passed"]
