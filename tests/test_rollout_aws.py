"""A two-ring rollout with the fleet behind the AWS adapter (real boto3 requests, validated by
botocore against the SSM and S3 models) against the emulator backed by the demo fleet: ring 2's
SendCommands carry an InstallOverrideList naming exactly ring 1's set for their platform, never
the patch the baseline approved between the rings."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from patchwave.config import load_config
from patchwave.config.aws import AwsSettings
from patchwave.connect import FleetHandle
from patchwave.sim import load_spec, open_simulated
from patchwave.sim.emulator import TARGET_GROUP, emulated_aws_fleet
from tests.test_rollouts import ROOT, config_copy

CANARY = ["i-0a1b2c3d4e5f60718", "i-0a1b2c3d4e5f60719"]  # AMAZON_LINUX_2023
WEB = ["i-0b2c3d4e5f6071829", "i-0b2c3d4e5f607182a", "i-0b2c3d4e5f607182b", "i-0b2c3d4e5f607182c"]
API = ["i-0c4d6e8f0a2b4c6d9", "i-0c4d6e8f0a2b4c6da", "i-0c4d6e8f0a2b4c6db", "i-0c4d6e8f0a2b4c6dc"]  # UBUNTU
PLATFORM = {**dict.fromkeys(CANARY + WEB, "AMAZON_LINUX_2023"), **dict.fromkeys(API, "UBUNTU")}
RING1, RING2 = CANARY + API[:2], WEB + API[2:]
WINDOWS = f"""
  - name: two-os-1
    targets: {{instance_ids: {RING1}}}
    operation: Install
    reboot: if_needed
    waves: [{{name: all, max_concurrency: "100%", max_errors: "50%"}}]
  - name: two-os-2
    targets: {{instance_ids: {RING2}}}
    operation: Install
    reboot: if_needed
    waves: [{{name: all, max_concurrency: "50%", max_errors: "50%"}}]
"""
ROLLOUT = """
rollouts:
  - name: two-os
    rings:
      - {window: two-os-1, bake_minutes: 1440}
      - {window: two-os-2, bake_minutes: 0, min_success_rate: 0.5}
"""


def two_os_config(tmp_path: Path) -> Path:
    """The demo config, AL2023's baseline approving 4 days after release (tzdata, released
    11-26, is approved 11-30: after ring 1 on 11-29, before ring 2 a day later)."""
    folder = config_copy(tmp_path, ROLLOUT, approve_after_days=4)
    with (folder / "windows.yaml").open("a") as handle:
        handle.write(WINDOWS)
    return folder


def install_commands(emulator: Any, among: list[str]) -> list[dict[str, Any]]:
    """The AWS-RunPatchBaseline Install requests the emulator answered for these instances."""
    return [
        params
        for operation, params in emulator.requests
        if operation == "SendCommand"
        and params["DocumentName"] == "AWS-RunPatchBaseline"
        and params["Parameters"]["Operation"] == ["Install"]
        and set(params["InstanceIds"]) <= set(among)
    ]


@pytest.mark.usefixtures("prefect_harness")
def test_ring_two_through_the_aws_adapter_sends_exactly_ring_ones_set_per_platform(tmp_path: Path) -> None:
    from prefect import flow

    from flows.rollout import find_rollout, run_rings
    from patchwave.history.rollouts import open_rollout_store
    from patchwave.window.rollout import new_state

    folder = two_os_config(tmp_path)
    config = load_config(folder)
    sim, clock = open_simulated(load_spec(ROOT / "config/fleets/demo.yaml"), config.baselines, 0)
    settings = AwsSettings.model_validate(
        {
            "region": "eu-west-1",
            "install_override_bucket": "patchwave-overrides",
            "health": {"target_group_arns": [TARGET_GROUP]},
        }
    )
    adapter, emulator = emulated_aws_fleet(sim, settings)
    handle = FleetHandle(adapter, clock, "emulated account")
    rollout, windows = find_rollout(str(folder), "two-os")
    state = new_state("two-os", [r.window for r in rollout.rings])
    store = open_rollout_store(folder)

    @flow(name="rollout-aws-under-test")
    def under_test() -> Any:
        return run_rings(handle, rollout, windows, state, str(tmp_path / "reports"), store)

    final = under_test(return_state=True)
    assert final.is_completed(), final.message
    assert [r.status for r in state.rings] == ["passed", "passed"]
    assert store.rollout("two-os") == state  # what the flow wrote to the history store
    assert set(state.frozen) == {"AMAZON_LINUX_2023", "UBUNTU"}
    assert "tzdata.noarch" not in state.frozen["AMAZON_LINUX_2023"]  # not approved when ring 1 ran

    ring1 = install_commands(emulator, RING1)
    assert ring1 and not any("InstallOverrideList" in c["Parameters"] for c in ring1)  # its baseline
    ring2 = install_commands(emulator, RING2)
    platforms_sent = set()
    for command in ring2:
        (platform,) = {PLATFORM[i] for i in command["InstanceIds"]}  # one list per platform
        platforms_sent.add(platform)
        (url,) = command["Parameters"]["InstallOverrideList"]
        assert url.startswith("s3://patchwave-overrides/")
        assert sorted(emulator.override_ids(command["Parameters"])) == state.frozen[platform]
    assert platforms_sent == {"AMAZON_LINUX_2023", "UBUNTU"}
    # the baseline approves tzdata by ring 2, and the web servers miss it: ring 2 left it alone
    ring2_start = dt.datetime.fromisoformat(state.rings[1].started_at)
    patches = sim.instance_patches_of(WEB, None, clock.now())
    tzdata = [p for listed in patches.values() for p in listed if "tzdata.noarch" in p.kb_ids]
    assert any(p.state == "MISSING" for p in tzdata)
    assert not any(p.installed_time and p.installed_time >= ring2_start for p in tzdata)
