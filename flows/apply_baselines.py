"""Baselines as code on a schedule: report drift (and apply the config when asked).

Run with ``apply=False`` on a schedule, it is a drift check: the run fails when the account
differs from config/baselines.yaml, and a markdown artifact lists the differences.
"""

from __future__ import annotations

from prefect import flow
from prefect.artifacts import create_markdown_artifact
from prefect.states import Completed, Failed, State

from flows.parameters import checked
from patchwave.aws.baselines import BaselineCallFailed
from patchwave.aws.session import AwsClients, check_credentials, make_session
from patchwave.config import load_config
from patchwave.config.baselines import BaselinesFile
from tasks.baselines import apply_baselines_task, diff_baselines


def baselines_markdown(changes: list[str], applied: bool) -> str:
    title = "Baselines applied" if applied else "Baseline drift"
    if not changes:
        return f"# {title}\n\nThe account matches config/baselines.yaml.\n"
    return f"# {title}\n\n" + "\n".join(f"- `{c}`" for c in changes) + "\n"


def sync_baselines(clients: AwsClients, desired: BaselinesFile, apply: bool) -> State:
    """Compose the tasks: diff, then apply when asked; the run's final state. An AWS error
    fails the run with one line, and an apply stopped half-way lists what it did and did not."""
    try:
        return _sync(clients, desired, apply)
    except BaselineCallFailed as exc:
        if exc.done or exc.not_done:
            lines = [f"applied: {c}" for c in exc.done] + [f"not applied: {c}" for c in exc.not_done]
            create_markdown_artifact(markdown=baselines_markdown(lines, True), key="baselines-applied")
        return Failed(message=f"{exc} ({len(exc.done)} applied, {len(exc.not_done)} not applied)")


def _sync(clients: AwsClients, desired: BaselinesFile, apply: bool) -> State:
    account, changes = diff_baselines(clients, desired)
    if apply and changes:
        done = apply_baselines_task(clients, desired, account, changes)
        create_markdown_artifact(markdown=baselines_markdown(done, True), key="baselines-applied")
        return Completed(message=f"applied {len(done)} change(s)")
    lines = [str(c) for c in changes]
    create_markdown_artifact(markdown=baselines_markdown(lines, False), key="baselines-drift")
    if changes:
        return Failed(message=f"drift: {len(changes)} change(s) would be made")
    return Completed(message="no drift")


@flow(name="apply-baselines")
def apply_baselines(config_dir: str = "config", apply: bool = False) -> State:
    """Compare config/baselines.yaml with the account; with apply=True make the account match."""
    config = load_config(config_dir)
    clients = AwsClients(make_session(config.aws))
    check_credentials(clients)
    return sync_baselines(clients, config.baselines, apply)


checked(apply_baselines)  # deployment parameters: one line, before anything starts
