"""Member accounts: which ones a window targets, and a session in each (an assumed role).

The orchestrator's own credentials (config/aws.yaml) reach the shared stores and Organizations;
each member account is reached through its role (``accounts.role_arn_pattern`` or
``accounts.role_arns``) with ``sts:AssumeRole``, in the region of the child run."""

from __future__ import annotations

from patchwave.aws.organizations import accounts_under
from patchwave.aws.session import AwsClients, make_session
from patchwave.config.aws import Accounts, AwsSettings


def target_accounts(accounts: Accounts, clients: AwsClients | None = None) -> list[str]:
    """The configured ids, or the OU's active accounts, minus the exclusions; canary first."""
    if accounts.organization_unit:
        assert clients is not None, "discovering accounts needs the orchestrator's clients"
        found = accounts_under(clients.organizations, accounts.organization_unit)
    else:
        found = list(accounts.ids)
    chosen = sorted(set(found) - set(accounts.exclude))
    if accounts.canary in chosen:
        chosen.remove(accounts.canary)
        chosen.insert(0, accounts.canary)
    return chosen


def member_settings(settings: AwsSettings, account: str, region: str) -> AwsSettings:
    """The settings of one member account-region: its role, assumed from the orchestrator's
    credentials (an orchestrator that itself assumes a role would chain: not supported)."""
    accounts = settings.accounts
    assert accounts is not None
    return settings.model_copy(
        update={
            "region": region,
            "role_arn": accounts.role_for(account),
            "external_id": accounts.external_id,
            "accounts": None,
        }
    )


def member_clients(settings: AwsSettings, account: str, region: str) -> AwsClients:
    """Clients in a member account (AssumeRole happens here: AccessDenied surfaces at once)."""
    return AwsClients(make_session(member_settings(settings, account, region)))
