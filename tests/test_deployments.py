"""windows.yaml -> deployments: schedules in their time zone, and deleted windows disappear."""

from __future__ import annotations

import pytest

from deployments.windows import TAG, deployment_specs, remove_stale, runner_deployments
from patchwave.config import Config
from patchwave.config.windows import WindowsFile

pytestmark = pytest.mark.usefixtures("prefect_harness")


def with_windows(config: Config, names: list[str]) -> Config:
    base = config.windows.windows[0].model_dump(mode="json")
    windows = [dict(base, name=name) for name in names]
    windows.append({**base, "name": "manual-only", "schedule": None})
    rings = [w.model_dump(mode="json") for w in config.windows.windows if w.name.startswith("rings-")]
    windows += rings  # rollouts.yaml names them
    return Config(
        config.directory, config.baselines, WindowsFile.model_validate({"windows": windows}), config.aws
    )


def test_specs_carry_schedule_parameters_and_tags(config) -> None:
    specs = {s["name"]: s for s in deployment_specs(config, "sim:config/fleets/demo.yaml", "reports", 0)}
    weekly = specs["weekly-test"]
    (schedule,) = weekly["schedules"]
    assert (schedule.cron, schedule.timezone) == ("0 3 * * SUN", "Europe/Paris")
    assert weekly["parameters"] == {
        "window": "weekly-test",
        "config_dir": str(config.directory),
        "fleet": "sim:config/fleets/demo.yaml",
        "report_dir": "reports",
        "speed": 0,
    }
    assert TAG in weekly["tags"] and specs["emergency"]["schedules"] == []


def test_re_running_updates_and_removes_deleted_windows(config) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterTags

    def deployed() -> set[str]:
        with get_client(sync_client=True) as client:
            found = client.read_deployments(
                deployment_filter=DeploymentFilter(tags=DeploymentFilterTags(all_=[TAG]))
            )
            return {d.name for d in found}

    for deployment in runner_deployments(
        with_windows(config, ["alpha", "beta"]), "sim:x.yaml", "reports", None
    ):
        deployment.apply()
    assert {"alpha", "beta", "manual-only", "emergency", "retry-failed"} <= deployed()
    kept = {
        d.name for d in runner_deployments(with_windows(config, ["alpha"]), "sim:x.yaml", "reports", None)
    }
    assert remove_stale(kept) == ["beta"]
    assert "beta" not in deployed() and "alpha" in deployed()


def test_emergency_form_shows_only_what_an_operator_fills_and_windows_say_their_time_zone(config) -> None:
    deployments = {d.name: d for d in runner_deployments(config, "sim:config/fleets/demo.yaml", "reports", 0)}
    emergency = deployments["emergency"]
    form = emergency._parameter_openapi_schema
    assert set(form.properties) == {"request"}  # config_dir, fleet, report_dir, speed: fixed, hidden
    assert emergency.parameters["fleet"] == "sim:config/fleets/demo.yaml"  # ...but every run gets them
    request = form.definitions["EmergencyForm"]["properties"]
    assert request["tags"]["type"] == "array" and request["tags"]["examples"] == [
        [{"key": "Workload", "value": "Test"}]
    ]
    assert "Europe/Paris" in deployments["weekly-test"].description
    assert "0 3 * * SUN" in deployments["weekly-test"].description
