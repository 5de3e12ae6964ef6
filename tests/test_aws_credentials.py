"""A failing AssumeRole or profile: one line, exit 2, nothing else called (through the CLI).

The refusal is real: a local HTTP server plays every AWS endpoint (AWS_ENDPOINT_URL) and
answers AssumeRole with STS's AccessDenied error; it records every request it gets, so the test
sees that nothing but AssumeRole was asked."""

from __future__ import annotations

import http.server
import threading
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from patchwave.cli import app

ROOT = Path(__file__).resolve().parents[1]
ROLE = "arn:aws:iam::123456789012:role/patchwave-operator"
DENIED = (
    b'<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type>'
    b"<Code>AccessDenied</Code><Message>User: arn:aws:iam::123456789012:user/ops is not authorized "
    b"to perform: sts:AssumeRole on resource: " + ROLE.encode() + b"</Message></Error>"
    b"<RequestId>r</RequestId></ErrorResponse>"
)


class _Aws(http.server.BaseHTTPRequestHandler):
    seen: list[str] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        action = urllib.parse.parse_qs(body).get("Action", [self.headers.get("X-Amz-Target", "?")])[0]
        self.seen.append(action)
        self.send_response(403)
        self.send_header("Content-Type", "text/xml")
        self.send_header("Content-Length", str(len(DENIED)))
        self.end_headers()
        self.wfile.write(DENIED)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def fake_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[list[str]]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Aws)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Aws.seen = []
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{server.server_address[1]}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    yield _Aws.seen
    server.shutdown()
    server.server_close()


def _config(tmp_path: Path, aws_yaml: str) -> Path:
    directory = tmp_path / "config"
    directory.mkdir()
    for name in ("baselines.yaml", "windows.yaml"):
        (directory / name).write_text((ROOT / "config" / name).read_text())
    (directory / "aws.yaml").write_text(aws_yaml)
    return directory


def _run(directory: Path, *command: str):
    return CliRunner().invoke(app, [*command, "--config", str(directory), "--fleet", "aws"])


@pytest.mark.parametrize("command", [("run", "--window", "weekly-test"), ("plan", "--window", "weekly-test")])
def test_a_refused_assume_role_is_one_line_exit_2_and_nothing_else_is_called(
    fake_aws: list[str], tmp_path: Path, command: tuple[str, ...]
) -> None:
    directory = _config(tmp_path, f"region: eu-west-1\nrole_arn: {ROLE}\n")
    result = _run(directory, *command)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.output
    assert f"role_arn = '{ROLE}': AssumeRole failed: AccessDenied" in lines[0]
    assert fake_aws == ["AssumeRole"]  # refused once (not retried), and no SSM or EC2 call


def test_a_missing_profile_is_one_line_exit_2_and_nothing_is_called(
    fake_aws: list[str], tmp_path: Path
) -> None:
    (tmp_path / "aws-config").write_text("[profile other]\nregion = eu-west-1\n")
    directory = _config(tmp_path, "region: eu-west-1\nprofile: patching\n")
    result = _run(directory, "run", "--window", "weekly-test")
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1
    assert "profile = 'patching': no such profile" in lines[0]
    assert fake_aws == []
