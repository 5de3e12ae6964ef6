"""A window over many accounts and regions: plan per account-region, one child window run each
through ``run_deployment`` (Prefect spreads them over the pool's workers), account waves with a
canary account first, and one aggregated report.

- How many accounts patch at once is the global concurrency limit ``accounts.concurrency_limit``
  that every child holds while it runs (``patchwave setup`` creates it): the parent may start a
  whole wave, the limit makes the surplus wait, whichever worker they landed on.
- One account-region failing (AccessDenied, no managed instance, a halted window) is reported
  and the others go on; only when more than ``accounts.max_failed_targets`` have failed does the
  parent stop starting further waves (those are reported not_started).
- Each child is started with an idempotency key made of the parent's run id and its target, so
  a retried parent re-attaches to the children it already started instead of starting them again.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import FlowRun
from prefect.deployments import run_deployment
from prefect.runtime import flow_run
from prefect.settings import PREFECT_API_URL, PREFECT_UI_URL
from prefect.states import Completed, Failed, State

from flows.account_window import target_report_dir
from flows.parameters import checked
from flows.patch_window import DEFAULT_FLEET
from patchwave.config import load_config
from patchwave.connect import open_run_store
from patchwave.errors import ConfigError
from patchwave.reports.accounts import AccountsReport, TargetResult, overall_status
from patchwave.reports.report import write_atomic
from patchwave.window.accounts import AccountTarget, AccountWave, plan_account_waves
from patchwave.window.retry import find_report, load_report

CHILD_DEPLOYMENT = "account-window/account-window"
POLL_SECONDS = 2.0


def ui_link(flow_run_id: str) -> str | None:
    ui = PREFECT_UI_URL.value() or (PREFECT_API_URL.value() or "").removesuffix("/api")
    return f"{ui.rstrip('/')}/runs/flow-run/{flow_run_id}" if ui else None


@task(name="resolve-accounts", cache_policy=NO_CACHE)
def resolve_accounts(config_dir: str) -> list[str]:
    """The target accounts: named, or discovered from the OU (Organizations), minus exclusions."""
    from patchwave.aws.members import target_accounts
    from patchwave.aws.session import AwsClients, make_session

    settings = load_config(config_dir).aws
    assert settings.accounts is not None
    clients = AwsClients(make_session(settings)) if settings.accounts.organization_unit else None
    return target_accounts(settings.accounts, clients)


def start_children(wave: AccountWave, parent_id: str, window: str, common: dict, deployment: str) -> dict:
    started: dict[AccountTarget, FlowRun] = {}
    for target in wave.targets:
        started[target] = run_deployment(  # type: ignore[assignment]
            deployment,
            parameters={"window": window, "account": target.account, "region": target.region, **common},
            timeout=0,  # do not wait here: the whole wave starts, the concurrency limit paces it
            idempotency_key=f"{parent_id}:{target.account}:{target.region}",
            tags=["patchwave", f"account:{target.account}", f"region:{target.region}"],
        )
    return started


def wait_for(runs: dict[AccountTarget, FlowRun]) -> dict[AccountTarget, FlowRun]:
    finals: dict[AccountTarget, FlowRun] = {}
    with get_client(sync_client=True) as client:
        while len(finals) < len(runs):
            for target, run in runs.items():
                if target not in finals:
                    current = client.read_flow_run(run.id)
                    if current.state is not None and current.state.is_final():
                        finals[target] = current
            if len(finals) < len(runs):
                time.sleep(POLL_SECONDS)
    return finals


def child_result(
    target: AccountTarget, wave: str, run: FlowRun, config_dir: str, report_dir: str
) -> TargetResult:
    run_id = str(run.id)
    state = run.state
    report_dir = target_report_dir(report_dir, target.account, target.region)
    result = TargetResult(
        account=target.account,
        region=target.region,
        wave=wave,
        status="failed",
        message=(state.message or state.name or "") if state else "",
        flow_run_id=run_id,
        run_link=ui_link(run_id),
    )
    fetched = open_run_store(load_config(config_dir)).fetch_report(report_dir, run_id)
    try:
        path = fetched or find_report(Path(report_dir), run_id)
    except ConfigError:
        return result  # the child never got as far as a report (refused access, no instances)
    report = load_report(path)
    result.totals = report.totals
    result.report_link = str(path)
    result.status = report.status if state is not None and state.is_completed() else "failed"
    if result.status == "failed" and report.status != "succeeded":
        result.status = report.status
    return result


@flow(name="patch-accounts", flow_run_name="{window}-accounts")
def patch_accounts(
    window: str,
    config_dir: str = "config",
    fleet: str = DEFAULT_FLEET,
    report_dir: str = "reports",
    speed: float | None = None,
    child_deployment: str = CHILD_DEPLOYMENT,
) -> State:
    """Run window ``window`` in every configured account and region, as child runs."""
    config = load_config(config_dir)  # bad input fails here, before anything starts
    config.window(window)
    accounts = config.aws.accounts
    if accounts is None:
        raise ConfigError(str(config.directory / "aws.yaml"), "accounts", None, "no accounts configured")
    logger = get_run_logger()
    parent_id = str(flow_run.get_id() or uuid.uuid4())
    started = dt.datetime.now(dt.UTC)
    waves = plan_account_waves(
        resolve_accounts(config_dir), accounts.regions, accounts.canary, accounts.wave_size
    )
    common = {"config_dir": config_dir, "fleet": fleet, "report_dir": report_dir, "speed": speed}
    results: list[TargetResult] = []
    stop_reason = ""
    for wave in waves:
        if stop_reason:
            results += [
                TargetResult(
                    account=t.account,
                    region=t.region,
                    wave=wave.name,
                    status="not_started",
                    message=stop_reason,
                )
                for t in wave.targets
            ]
            continue
        logger.info("Account wave %s: %s", wave.name, ", ".join(t.label for t in wave.targets))
        finals = wait_for(start_children(wave, parent_id, window, common, child_deployment))
        for target in wave.targets:
            results.append(child_result(target, wave.name, finals[target], config_dir, report_dir))
            if results[-1].status != "succeeded":
                logger.warning("%s failed: %s", target.label, results[-1].message or results[-1].status)
        failed = sum(1 for r in results if r.status != "succeeded")
        if failed > accounts.max_failed_targets:
            stop_reason = (
                f"{failed} account-region(s) failed (more than {accounts.max_failed_targets} allowed)"
            )
    report = AccountsReport(
        window=window,
        run_id=parent_id,
        started_at=started,
        finished_at=dt.datetime.now(dt.UTC),
        status=overall_status(results, stop_reason),
        stop_reason=stop_reason,
        max_concurrent=accounts.max_concurrent,
        targets=results,
    )
    publish_accounts_report(report, config_dir, report_dir)
    summary = f"window {window} over accounts {report.status}: {len(report.failed)} of {len(results)} failed"
    return Failed(message=summary) if report.status == "halted" else Completed(message=summary)


def publish_accounts_report(report: AccountsReport, config_dir: str, report_dir: str) -> dict[str, str]:
    """The aggregated report as files (kept in the shared store too) and a markdown artifact."""
    stem = f"{report.window}-accounts-{report.started_at:%Y%m%dT%H%M%SZ}"
    paths = {"json": Path(report_dir) / f"{stem}.json", "markdown": Path(report_dir) / f"{stem}.md"}
    write_atomic(paths["json"], report.model_dump_json(indent=2))
    write_atomic(paths["markdown"], report.to_markdown())
    files = {kind: str(path) for kind, path in paths.items()}
    links = open_run_store(load_config(config_dir)).keep_reports(report.run_id, files)
    create_markdown_artifact(
        markdown=report.to_markdown(),
        key=f"accounts-{report.window}".lower().replace("_", "-")[:100],
        description=f"Window {report.window} over accounts: {report.status}",
    )
    return {**files, **links}


checked(patch_accounts)  # deployment parameters: one line, before anything starts
