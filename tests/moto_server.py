"""A moto server over HTTP (its own thread, or its own process for workers), shared as AWS
itself would be: DynamoDB, S3, STS and Organizations answer at one endpoint URL."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from patchwave.aws.session import AwsClients

MOTO_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "eu-west-1",
    "AWS_REGION": "eu-west-1",
}


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def moto_env(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every boto3 client of this process talks to the moto server (AWS_ENDPOINT_URL)."""
    for name, value in {**MOTO_ENV, "AWS_ENDPOINT_URL": moto_url}.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    return moto_url


def clients() -> AwsClients:
    """patchwave's own clients (their calls are recorded for the IAM test)."""
    from patchwave.aws.session import make_session
    from patchwave.config.aws import AwsSettings

    return AwsClients(make_session(AwsSettings()))


def make_bucket(name: str) -> None:
    import boto3

    boto3.client("s3").create_bucket(
        Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
