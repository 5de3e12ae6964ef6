"""The drift-check flow: Failed with a drift artifact, then Completed once applied."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws
from prefect import flow

from flows.apply_baselines import sync_baselines
from patchwave.aws.session import AwsClients
from tests.moto_gaps import PatchGroupLedger

pytestmark = pytest.mark.usefixtures("prefect_harness")


@mock_aws
def test_drift_then_apply_then_clean(config, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "t",
        "AWS_SECRET_ACCESS_KEY": "t",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }.items():
        monkeypatch.setenv(name, value)
    session = boto3.Session(region_name="eu-west-1")
    PatchGroupLedger().install(session)
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
