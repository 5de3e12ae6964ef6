"""Rollouts: rings with a frozen patch set, on the simulated demo fleet (virtual clock)."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from patchwave.cli import app
from patchwave.config import load_config
from patchwave.config.rollouts import load_rollouts
from patchwave.errors import ConfigError
from patchwave.sim.fleet import SimulatedFleet

ROOT = Path(__file__).resolve().parent.parent
FLEET = "sim:config/fleets/demo.yaml"
runner = CliRunner()
WEB = [
    "i-0b2c3d4e5f6071829", "i-0b2c3d4e5f607182a", "i-0b2c3d4e5f607182b", "i-0b2c3d4e5f607182c",
    "i-0b2c3d4e5f607182d", "i-0b2c3d4e5f607182e", "i-0e3f5a7c9b1d2f4a6", "i-0b2c3d4e5f6071830",
]  # fmt: skip


def config_copy(tmp_path: Path, rollouts: str | None = None, approve_after_days: int = 0) -> Path:
    folder = tmp_path / "config"
    shutil.copytree(ROOT / "config", folder)
    baselines = folder / "baselines.yaml"
    baselines.write_text(
        baselines.read_text().replace("approve_after_days: 0", f"approve_after_days: {approve_after_days}")
    )
    if rollouts is not None:
        (folder / "rollouts.yaml").write_text(rollouts)
    history = folder / "history.yaml"  # this test's own history store (rollout state lives there)
    history.write_text(
        history.read_text().replace("  url:\n", f"  url: sqlite:///{tmp_path / 'history.db'}\n")
    )
    return folder


@pytest.mark.usefixtures("prefect_harness")
def test_ring_two_installs_the_frozen_set_not_a_patch_approved_later(tmp_path: Path) -> None:
    """tzdata (released 2026-11-26) is approved 4 days later, 2026-11-30: after ring 1 (11-29),
    before ring 2 (after a one-day bake). Ring 2 must not install it though its baseline wants it."""
    from prefect import flow

    from flows.rollout import find_rollout, run_rings
    from patchwave.connect import open_fleet
    from patchwave.history.rollouts import open_rollout_store
    from patchwave.window.rollout import new_state

    folder = config_copy(tmp_path, approve_after_days=4)
    reports = str(tmp_path / "reports")

    @flow(name="rollout-under-test")
    def under_test() -> dict:
        spec, windows = find_rollout(str(folder), "demo-rings")
        handle = open_fleet(FLEET, load_config(folder), 0)
        state = new_state("demo-rings", [r.window for r in spec.rings])
        final = run_rings(handle, spec, windows, state, reports, open_rollout_store(folder))
        assert final.is_completed(), final.message
        ring2_start = dt.datetime.fromisoformat(state.rings[1].started_at)
        sim = handle.fleet
        assert isinstance(sim, SimulatedFleet)
        sent = [
            c for c in sim.sent if c.operation == "Install" and set(c.instance_ids) & set(WEB)
        ]  # the simulator's record of each SendCommand
        return {"patches": handle.fleet.instance_patches(WEB), "ring2_start": ring2_start, "sent": sent}

    seen = under_test()
    state = open_rollout_store(folder).rollout("demo-rings")
    assert state is not None and [r.status for r in state.rings] == ["passed", "passed"]
    frozen = state.frozen["AMAZON_LINUX_2023"]
    assert frozen and "tzdata.noarch" not in frozen  # not approved when ring 1 ran
    installed_in_ring2: set[str] = set()
    pulled_in: set[str] = set()  # a rejected dependency a frozen patch needs (INSTALLED_OTHER)
    tzdata_missing = 0
    for listed in seen["patches"].values():
        for patch in listed:
            if patch.installed_time and patch.installed_time >= seen["ring2_start"]:
                installed_in_ring2.update(patch.kb_ids)
                if patch.state == "INSTALLED_OTHER":
                    pulled_in.update(patch.kb_ids)
            if "tzdata.noarch" in patch.kb_ids and patch.state == "MISSING":
                tzdata_missing += 1
    assert installed_in_ring2, "ring 2 installed nothing"
    assert "tzdata.noarch" not in installed_in_ring2
    assert seen["sent"] and all(
        set(c.install_override) == set(frozen) for c in seen["sent"]
    )  # InstallOverrideList
    assert installed_in_ring2 - pulled_in <= set(frozen)  # only the frozen set (and its dependencies)
    assert tzdata_missing > 0  # the baseline approves it by then, yet ring 2 left it alone


GATE = """
rollouts:
  - name: gated
    pause_hours: 0
    rings:
      - {window: rings-web, bake_minutes: 60, min_success_rate: 1.0}
      - {window: rings-canary, bake_minutes: 0, min_success_rate: 0.0}
"""


@pytest.mark.usefixtures("prefect_harness")
def test_failed_gate_stops_then_promote_continues_and_abort_ends(tmp_path: Path) -> None:
    folder = config_copy(tmp_path, GATE)
    common = ["--config", str(folder), "--speed", "0", "--report-dir", str(tmp_path / "r")]
    started = runner.invoke(app, ["rollout", "start", "gated", *common])
    assert started.exit_code == 1, started.output  # one web instance fails its install
    status = json.loads(runner.invoke(app, ["rollout", "status", "gated", *common[:2]]).output)
    assert status["status"] == "failed_gate" and "success rate" in status["reason"]
    assert [r["status"] for r in status["rings"]] == ["failed_gate", "pending"]

    promoted = runner.invoke(app, ["rollout", "promote", "gated", "--reason", "known flaky host", *common])
    assert promoted.exit_code == 0, promoted.output
    status = json.loads(runner.invoke(app, ["rollout", "status", "gated", *common[:2]]).output)
    assert [r["status"] for r in status["rings"]] == ["promoted", "passed"] and status["status"] == "passed"

    common2 = ["--config", str(folder), "--speed", "0", "--report-dir", str(tmp_path / "r2")]
    assert runner.invoke(app, ["rollout", "start", "gated", *common2]).exit_code == 1
    aborted = runner.invoke(app, ["rollout", "abort", "gated", "--reason", "bad patch", *common2[:2]])
    assert aborted.exit_code == 0, aborted.output
    again = runner.invoke(app, ["rollout", "promote", "gated", "--reason", "x", *common2])
    assert again.exit_code == 2  # nothing failed its gate any more: the rollout is aborted


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("rollouts: [{name: x, rings: [{window: nope}]}]", "rollouts[0].rings[0].window = 'nope'"),
        ("rollouts: [{name: x, rings: [{window: rings-web, min_success_rate: 2}]}]", "min_success_rate = 2"),
        ("rollouts: [{name: x, rings: [{window: rings-web, bake: 5}]}]", "unknown key"),
        ("rollouts: [{name: x, pause_hours: -1, rings: [{window: rings-web}]}]", "pause_hours = -1"),
    ],
)
def test_bad_rollouts_yaml_is_one_line(tmp_path: Path, text: str, expected: str) -> None:
    folder = config_copy(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_rollouts(folder, {w.name for w in load_config(folder).windows.windows})
    message = str(caught.value)
    assert "\n" not in message and "rollouts.yaml" in message and expected in message
    result = runner.invoke(app, ["rollout", "start", "x", "--config", str(folder), "--speed", "0"])
    assert result.exit_code == 2 and expected in result.output


@pytest.mark.usefixtures("prefect_harness")
def test_demo_rollout_exits_zero(tmp_path: Path) -> None:
    result = runner.invoke(app, ["demo", "--rollout", "--speed", "0", "--report-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "2 ring(s) passed" in result.output


def test_frozen_set_takes_only_what_the_ring_installed_and_the_gate_counts_attempts(tmp_path: Path) -> None:
    from patchwave.fleet import InstancePatch
    from patchwave.window.rollout import check_gate, frozen_set

    start = dt.datetime(2026, 11, 29, 2, tzinfo=dt.UTC)
    before, during = start - dt.timedelta(days=3), start + dt.timedelta(minutes=5)
    patches = {
        "i-a": [
            InstancePatch(
                id="ALAS-1", state="INSTALLED", installed_time=during, install_ids=("curl.x86_64",)
            ),
            InstancePatch(id="ALAS-2", state="INSTALLED", installed_time=before, install_ids=("vim.x86_64",)),
            InstancePatch(id="ALAS-3", state="MISSING", install_ids=("tzdata.noarch",)),
        ],
        "i-w": [InstancePatch(id="KB5000001", state="INSTALLED_PENDING_REBOOT", installed_time=during)],
        "i-other": [InstancePatch(id="KB5000002", state="INSTALLED", installed_time=during)],
    }
    frozen = frozen_set({"i-a": "AMAZON_LINUX_2023", "i-w": "WINDOWS"}, patches, start)
    assert frozen == {"AMAZON_LINUX_2023": ["curl.x86_64"], "WINDOWS": ["KB5000001"]}

    assert check_gate({"patched": 3, "failed_install": 1, "already_compliant": 9}, 0.75, False).passed
    low = check_gate({"patched": 2, "failed_install": 1}, 0.75, False)
    assert not low.passed and "0.67" in low.reason
    assert not check_gate({"patched": 9, "failed_verification": 1}, 0.5, False).passed
    assert check_gate({"patched": 9, "failed_verification": 1}, 0.5, True).passed
    both = check_gate({"patched": 1, "failed_install": 1}, 0.75, False, "alarm 'x' is in ALARM")
    assert not both.passed and both.reason == "success rate 0.50 < 0.75; alarm 'x' is in ALARM"
