"""windows.yaml -> Prefect deployments: schedules replace maintenance windows.

Every window becomes a deployment of the patch-window flow named after it, with its cron
schedule in its IANA time zone (none for a window without a schedule), its parameters and tags;
beside them, the emergency-patch and retry-failed deployments (no schedule). Two ways to run
them: ``serve`` (one long-running process) and ``deploy`` (to a work pool, for workers).
Re-running either after editing windows.yaml updates the deployments to match, and removes the
deployments of windows that are gone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect.schedules import Cron

from deployments.history import ENTRYPOINT as COMPLIANCE_SCAN_ENTRYPOINT
from deployments.history import compliance_scan_spec
from deployments.rollouts import ENTRYPOINT as ROLLOUT_ENTRYPOINT
from deployments.rollouts import rollout_specs, unschedule_rings
from flows.account_window import account_window
from flows.emergency_form import emergency_form
from flows.multi_account import patch_accounts
from flows.patch_window import patch_window
from flows.retry_failed import retry_failed
from flows.rollback import rollback
from patchwave.config import Config

TAG = "patchwave"
ROOT = Path(__file__).resolve().parent.parent


def window_parameters(config_dir: str, fleet: str, report_dir: str, speed: float | None) -> dict[str, Any]:
    params: dict[str, Any] = {"config_dir": config_dir, "fleet": fleet, "report_dir": report_dir}
    if speed is not None:
        params["speed"] = speed
    return params


def deployment_specs(
    config: Config, fleet: str, report_dir: str, speed: float | None
) -> list[dict[str, Any]]:
    """What to deploy: (flow, name, schedules, parameters, tags, description) for each."""
    base = window_parameters(str(config.directory), fleet, report_dir, speed)
    specs: list[dict[str, Any]] = []
    for window in config.windows.windows:
        schedules = [Cron(window.schedule.cron, timezone=window.schedule.timezone)] if window.schedule else []
        when = (
            f"Schedule: {window.schedule.cron} in {window.schedule.timezone} "
            f"({window.duration_hours} h, nothing new starts in the last {window.cutoff_hours} h)."
            if window.schedule
            else "No schedule: run it by hand."
        )
        specs.append(
            {
                "flow": patch_window,
                "name": window.name,
                "schedules": schedules,
                "parameters": {"window": window.name, **base},
                "tags": [TAG, f"window:{window.name}"],
                "description": f"{window.description or f'Patch window {window.name}'} {when}",
            }
        )
    unschedule_rings(config, specs)  # deployments/rollouts.py: a rollout runs its rings
    if config.aws.accounts is not None:
        specs += account_specs(config, specs, base)
    specs += rollout_specs(config, base, TAG)
    specs.append(
        {
            "flow": emergency_form,
            "name": "emergency",
            "schedules": [],
            "parameters": base,
            "hidden": sorted(base),
            "tags": [TAG, "emergency"],
            "description": "Emergency patching by hand: name the instances (ids or tags) and why.",
        }
    )
    specs.append(
        {
            "flow": retry_failed,
            "name": "retry-failed",
            "schedules": [],
            "parameters": base,
            "tags": [TAG, "retry"],
            "description": "Retry the failed instances of an earlier run",
        }
    )
    specs.append(
        {
            "flow": rollback,
            "name": "rollback",
            "schedules": [],
            "parameters": base,
            "tags": [TAG, "rollback"],
            "description": "Restore instances of a run (default: the failed) from their pre-patch snapshots",
        }
    )
    specs.append(compliance_scan_spec(config, base, TAG))
    return specs


def account_specs(config: Config, specs: list[dict[str, Any]], base: dict[str, Any]) -> list[dict[str, Any]]:
    """Many accounts: each window's schedule moves to its parent deployment (patch-accounts),
    whose child runs go to the account-window deployment; the one-account window deployments
    stay, unscheduled, for running a window by hand."""
    parents: list[dict[str, Any]] = []
    for spec in specs:
        described = f"{spec['description']} (all accounts)"
        parents.append({**spec, "flow": patch_accounts, "description": described})
        spec["schedules"] = []
    parents.append(
        {
            "flow": account_window,
            "name": "account-window",
            "schedules": [],
            "parameters": base,
            "tags": [TAG, "account-window"],
            "description": "One account-region of a multi-account window (started by patch-accounts)",
        }
    )
    return parents


def hide_parameters(deployment: Any, names: list[str]) -> Any:
    """Settings the deployment fixes are left out of the UI's form (their values stay in the
    deployment's parameters, so every run gets them)."""
    schema = deployment._parameter_openapi_schema
    for name in names:
        schema.properties.pop(name, None)
        if schema.required and name in schema.required:
            schema.required.remove(name)
    return deployment


def runner_deployments(config: Config, fleet: str, report_dir: str, speed: float | None) -> list[Any]:
    return [
        hide_parameters(
            spec["flow"].to_deployment(
                name=spec["name"],
                schedules=spec["schedules"],
                parameters=spec["parameters"],
                tags=spec["tags"],
                description=spec["description"],
            ),
            spec.get("hidden", []),
        )
        for spec in deployment_specs(config, fleet, report_dir, speed)
    ]


def serve_windows(config: Config, fleet: str, report_dir: str, speed: float | None) -> None:
    """One long-running process serves every deployment. Schedules stay active when it stops."""
    from prefect import serve

    deployments = runner_deployments(config, fleet, report_dir, speed)
    remove_stale({d.name for d in deployments})
    serve(*deployments, pause_on_shutdown=False)


ENTRYPOINTS = {
    "patch-window": "flows/patch_window.py:patch_window",
    "emergency-patch": "flows/emergency_form.py:emergency_form",
    "retry-failed": "flows/retry_failed.py:retry_failed",
    "rollback": "flows/rollback.py:rollback",
    "patch-accounts": "flows/multi_account.py:patch_accounts",
    "account-window": "flows/account_window.py:account_window",
    "compliance-scan": COMPLIANCE_SCAN_ENTRYPOINT,
    "rollout": ROLLOUT_ENTRYPOINT,
}


def job_variables(config: Config) -> dict[str, Any]:
    """Deployed runs log at INFO to the UI; workers keep Prefect task results in the shared S3
    block when config/aws.yaml names one, so a run retried from the UI on another worker finds
    the results of its finished waves."""
    env = {"PREFECT_LOGGING_LEVEL": "INFO"}  # phases, waves and halts in the UI
    block = config.aws.shared.result_storage_block
    if block:
        env["PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK"] = f"s3-bucket/{block}"
    return {"env": env}


def deploy_windows(
    config: Config, fleet: str, report_dir: str, speed: float | None, work_pool: str
) -> list[str]:
    """Deployments for a work pool's workers, with this project folder as their source."""
    from prefect.deployments.runner import deploy
    from prefect.flows import Flow

    names: list[str] = []
    built = []
    for spec in deployment_specs(config, fleet, report_dir, speed):
        flow_name = spec["flow"].name
        source = Flow.from_source(source=str(ROOT), entrypoint=ENTRYPOINTS[flow_name])
        deployment = source.to_deployment(  # type: ignore[union-attr]
            name=spec["name"],
            work_pool_name=work_pool,
            schedules=spec["schedules"],
            parameters=spec["parameters"],
            tags=spec["tags"],
            description=spec["description"],
            job_variables=job_variables(config),  # INFO logs in the UI; shared result storage
        )
        built.append(hide_parameters(deployment, spec.get("hidden", [])))
        names.append(f"{flow_name}/{spec['name']}")
    deploy(*built, work_pool_name=work_pool, build=False, push=False, print_next_steps_message=False)
    remove_stale({n.split("/", 1)[1] for n in names})
    return names


def remove_stale(keep: set[str]) -> list[str]:
    """Delete patchwave deployments whose window no longer exists in windows.yaml."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterTags

    removed: list[str] = []
    with get_client(sync_client=True) as client:
        found = client.read_deployments(
            deployment_filter=DeploymentFilter(tags=DeploymentFilterTags(all_=[TAG]))
        )
        for deployment in found:
            if deployment.name not in keep:
                client.delete_deployment(deployment.id)
                removed.append(deployment.name)
    return removed
