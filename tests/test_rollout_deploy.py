"""rollouts.yaml -> a deployment of the rollout flow per rollout, on ring 1's schedule; the ring
windows' own deployments lose theirs (the rollout runs them)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from deployments.windows import TAG, deployment_specs, runner_deployments
from flows.rollout import rollout
from patchwave.config import load_config
from tests.test_rollouts import config_copy


@pytest.mark.usefixtures("prefect_harness")
def test_each_rollout_is_deployed_on_its_first_rings_schedule(tmp_path: Path) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterTags

    folder = config_copy(tmp_path)
    windows = yaml.safe_load((folder / "windows.yaml").read_text())
    for window in windows["windows"]:
        if window["name"] in ("rings-canary", "rings-web"):
            window["schedule"] = {"cron": "0 2 * * TUE", "timezone": "Europe/Paris"}
    (folder / "windows.yaml").write_text(yaml.safe_dump(windows))
    config = load_config(folder)
    specs = {s["name"]: s for s in deployment_specs(config, "sim:config/fleets/demo.yaml", "reports", 0)}
    spec = specs["rollout-demo-rings"]
    assert spec["flow"] is rollout and spec["parameters"]["name"] == "demo-rings"
    (schedule,) = spec["schedules"]
    assert (schedule.cron, schedule.timezone) == ("0 2 * * TUE", "Europe/Paris")
    assert specs["rings-canary"]["schedules"] == specs["rings-web"]["schedules"] == []  # never twice
    assert specs["weekly-test"]["schedules"]  # other windows keep theirs

    built = runner_deployments(config, "sim:config/fleets/demo.yaml", str(tmp_path / "r"), 0)
    (ours,) = [d for d in built if d.name == "rollout-demo-rings"]
    ours.apply()  # only ours: other tests own the session server's window deployments
    with get_client(sync_client=True) as client:
        found = client.read_deployments(
            deployment_filter=DeploymentFilter(tags=DeploymentFilterTags(all_=[TAG]))
        )
        (deployed,) = [d for d in found if d.name == "rollout-demo-rings"]
        client.delete_deployment(deployed.id)
    assert deployed.parameters["name"] == "demo-rings" and f"rollout:{'demo-rings'}" in deployed.tags
    assert "pause" in deployed.parameter_openapi_schema["properties"]  # the UI's run form offers it
