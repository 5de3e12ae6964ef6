"""The drift-check flow: Failed with a drift artifact, then Completed once applied."""

from __future__ import annotations

import boto3
import pytest
from prefect import flow

from flows.apply_baselines import sync_baselines
from patchwave.aws.session import AwsClients
from tests.moto_gaps import BaselineAccount

pytestmark = pytest.mark.usefixtures("prefect_harness")


def test_drift_then_apply_then_clean(config, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "t",
        "AWS_SECRET_ACCESS_KEY": "t",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }.items():
        monkeypatch.setenv(name, value)
    session = boto3.Session(region_name="eu-west-1")
    account = BaselineAccount()
    account.install(session)
    clients = AwsClients(session)

    @flow(name="baselines-check")
    def check(apply: bool):
        return sync_baselines(clients, config.baselines, apply)

    drift = check(False, return_state=True)
    assert drift.is_failed() and "drift: 2 change(s)" in drift.message
    applied = check(True, return_state=True)
    assert applied.is_completed() and "applied 2" in applied.message
    clean = check(False, return_state=True)
    assert clean.is_completed() and clean.message == "no drift"

    # a console edit of a rule is drift; an AWS error fails the run with one line
    (baseline_id,) = account.baselines
    account.baselines[baseline_id]["ApprovalRules"]["PatchRules"][0]["ComplianceLevel"] = "LOW"
    edited = check(False, return_state=True)
    assert edited.is_failed() and "drift: 1 change(s)" in edited.message
    account.fail["UpdatePatchBaseline"] = ("AccessDeniedException", "no")
    refused = check(True, return_state=True)
    assert refused.is_failed()
    assert refused.message == "UpdatePatchBaseline: AccessDeniedException: no (0 applied, 1 not applied)"
