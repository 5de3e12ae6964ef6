"""``patchwave plan`` of a window that is a ring: its rollout, place, bake, gate and patch set
(frozen from ring 1 when it runs; ring 1's set per platform, from the history store, once it has)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from patchwave.cli import app
from patchwave.history.sqlstore import SqlHistoryStore
from patchwave.window.rollout import new_state
from tests.test_rollouts import FLEET, config_copy

runner = CliRunner()


def plan(folder: Path, window: str, *extra: str) -> str:
    result = runner.invoke(
        app, ["plan", "--window", window, "--config", str(folder), "--fleet", FLEET, *extra]
    )
    assert result.exit_code == 0, result.output
    return result.output


def test_plan_of_a_ring_shows_its_rollout_gate_and_frozen_set(tmp_path: Path) -> None:
    folder = config_copy(tmp_path)
    assert "rollout" not in plan(folder, "weekly-test")  # not a ring
    assert not (tmp_path / "history.db").exists()  # nor was the store opened for it

    before = plan(folder, "rings-web")
    assert (
        "rollout demo-rings ring 2 of 2 (not started): bake 0 min; gate: success rate >= 0.50, failed "
        "verification none, no alarm during the bake (alarms: none configured)" in before
    )
    assert "rollout demo-rings ring 2 of 2 (not started): patch set frozen from ring 1 when it runs" in before
    first = plan(folder, "rings-canary")
    assert "ring 1 of 2 (not started): bake 1440 min" in first
    assert "installs what its baseline approves; that set is frozen for the later rings" in first

    state = new_state("demo-rings", ["rings-canary", "rings-web"])
    state.rings[0].status = "passed"
    state.frozen = {"AMAZON_LINUX_2023": ["curl.x86_64", "libcurl.x86_64"], "UBUNTU": ["openssl"]}
    SqlHistoryStore(f"sqlite:///{tmp_path / 'history.db'}").save_rollout(state)  # what ring 1 left
    after = plan(folder, "rings-web")
    assert (
        "rollout demo-rings ring 2 of 2 (pending): installs ring 1's frozen set, AMAZON_LINUX_2023: "
        "2 package(s): curl.x86_64, libcurl.x86_64" in after
    )
    assert "UBUNTU: 1 package(s): openssl" in after
    (entry,) = json.loads(plan(folder, "rings-web", "--json"))["rollouts"]
    assert (entry["ring"], entry["patch_set"], entry["frozen"]) == (2, "frozen", state.frozen)
