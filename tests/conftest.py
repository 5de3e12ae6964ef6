"""Test session set-up: a private PREFECT_HOME, no telemetry, and shared builders."""

from __future__ import annotations

import os
import tempfile

_home = tempfile.mkdtemp(prefix="patchwave-test-prefect-")
os.environ["PREFECT_HOME"] = _home
os.environ["PATCHWAVE_HOME"] = tempfile.mkdtemp(prefix="patchwave-test-home-")  # history.db of tests
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ["DO_NOT_TRACK"] = "1"
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.pop("PREFECT_API_URL", None)
# Child processes (killed-and-resumed runs) start Prefect's temporary server of their own; on a
# loaded 2-core machine that takes longer than Prefect's default 20 seconds.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "300")

from collections.abc import Iterator  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from patchwave.config import Config, load_config  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def config() -> Config:
    return load_config(ROOT / "config")


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """One Prefect test server for the whole session (it takes seconds to start)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(autouse=True)
def _run_in_repo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)


ALL_AWS_COUNTERS: list = []


@pytest.fixture(autouse=True, scope="session")
def _record_every_aws_call() -> Iterator[None]:
    """Keep every CallCounter patchwave creates: the IAM test checks each action they saw."""
    from patchwave.aws.session import CallCounter

    original = CallCounter.__init__

    def recording_init(self: CallCounter) -> None:
        original(self)
        ALL_AWS_COUNTERS.append(self)

    CallCounter.__init__ = recording_init  # type: ignore[method-assign]
    yield
    CallCounter.__init__ = original  # type: ignore[method-assign]


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials and a region for moto, the Stubber and the emulator; no profile."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_REGION": "eu-west-1",
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
