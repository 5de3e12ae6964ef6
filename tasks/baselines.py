"""Baselines as code against the account: one task reads and plans, one applies."""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from patchwave.aws.baselines import apply_changes, read_account
from patchwave.aws.session import AwsClients
from patchwave.baselines.sync import AccountState, Change, plan_changes
from patchwave.config.baselines import BaselinesFile


@task(name="diff-baselines", cache_policy=NO_CACHE, persist_result=False)
def diff_baselines(clients: AwsClients, desired: BaselinesFile) -> tuple[AccountState, list[Change]]:
    account = read_account(clients.ssm)
    changes = plan_changes(desired, account)
    logger = get_run_logger()
    for change in changes:
        logger.info("drift: %s", change)
    return account, changes


@task(name="apply-baselines", cache_policy=NO_CACHE, persist_result=False)
def apply_baselines_task(
    clients: AwsClients, desired: BaselinesFile, account: AccountState, changes: list[Change]
) -> list[str]:
    done = apply_changes(clients.ssm, desired, account, changes)
    logger = get_run_logger()
    for line in done:
        logger.info("applied: %s", line)
    return done
