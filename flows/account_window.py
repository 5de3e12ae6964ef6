"""One account-region of a multi-account window: the child run the parent starts through
``run_deployment``. It holds one slot of the accounts' global concurrency limit for its whole
run (so at most ``accounts.max_concurrent`` accounts patch at once, whichever worker runs
them), reaches the member account through its role, and runs the window there. When it took
and gave back its slot goes to its ledger (``account_slot``), as evidence of the cap.

Failures of the account are this run's: AccessDenied on the role, no managed instance
matching the window, a halted window; the parent reports them beside the others.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from prefect import flow, get_run_logger
from prefect.concurrency.sync import concurrency
from prefect.states import Failed, State

from flows.freeze import freeze_check
from flows.parameters import checked
from flows.patch_window import DEFAULT_FLEET, current_run_id, final_state, run_window, window_start
from patchwave.config import load_config
from patchwave.connect import open_member_fleet, open_run_store
from patchwave.errors import ConfigError


def target_report_dir(report_dir: str, account: str, region: str) -> str:
    """Each account-region's reports in a folder of its own, under the window's."""
    return str(Path(report_dir) / f"{account}-{region}")


@flow(name="account-window", flow_run_name="{window}-{account}-{region}")
def account_window(
    window: str,
    account: str,
    region: str,
    config_dir: str = "config",
    fleet: str = DEFAULT_FLEET,
    report_dir: str = "reports",
    speed: float | None = None,
) -> State:
    """Run window ``window`` in one member account and region (``fleet``: 'aws', or a
    simulated fleet per account: 'sim:PATH' where PATH may hold {account} and {region})."""
    config = load_config(config_dir)
    spec = config.window(window)
    accounts = config.aws.accounts
    if accounts is None:
        raise ConfigError(str(config.directory / "aws.yaml"), "accounts", None, "no accounts configured")
    logger = get_run_logger()
    report_dir = target_report_dir(report_dir, account, region)  # reports of one window share a name
    book = open_run_store(config).ledger(report_dir, current_run_id())
    asked = dt.datetime.now(dt.UTC)
    with concurrency(accounts.concurrency_limit, occupy=1, strict=True):
        held = dt.datetime.now(dt.UTC)
        try:
            handle = open_member_fleet(fleet, config, account, region, speed)
            logger.info("Account %s in %s: %s", account, region, handle.description)
            freezes = [config.windows.freezes, spec.freezes]  # the member's calendars, read in it
            frozen = freeze_check(handle, freezes, window_start(handle), f"{window} in {account} {region}")
            if frozen is not None:
                return frozen
            report = run_window(handle, spec, report_dir=report_dir, reason=f"account {account} in {region}")
        finally:
            released = dt.datetime.now(dt.UTC)
            book.append(
                "account_slot", account=account, region=region, asked=asked, held=held, released=released
            )
            book.close()
    if not report.instances:
        return Failed(message=f"account {account} {region}: no managed instance matches window {window}")
    return final_state(report)


checked(account_window)  # deployment parameters: one line, before anything starts
