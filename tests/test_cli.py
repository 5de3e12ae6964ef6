"""The real CLI: commands work, and bad input exits 2 with one message and no fleet call."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from patchwave.cli import app

ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args))


def test_validate_default_config_and_demo_fleet() -> None:
    result = invoke("validate", "--fleet", "sim:config/fleets/demo.yaml")
    assert result.exit_code == 0, result.output
    assert "1 baseline(s), 3 window(s)" in result.output  # weekly-test and the demo-rings rings


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("validate", "--config", "nope"), "nope: --config = 'nope': not a folder"),
        (("validate", "--fleet", "simulated"), "--fleet: fleet = 'simulated'"),
        (("validate", "--fleet", "sim:missing.yaml"), "missing.yaml: <file>"),
        (("plan", "--window", "nope"), "windows.yaml: windows[].name = 'nope': no such window"),
        (("run", "--window", "weekly-test", "--speed", "-3"), "--speed: speed = -3.0"),
        (("scan", "--tag", "Workload"), "--tag: tag = 'Workload': expected KEY=VALUE"),
        (("scan", "--tag", "patch group=Critical"), "must be spelled 'Patch Group'"),
        (("baselines", "preview", "--date", "29/11/2026"), "--date: date = '29/11/2026'"),
        (("baselines", "preview", "--baseline", "Nope"), "baselines[].name = 'Nope'"),
    ],
)
def test_bad_input_exits_2_with_one_message(args, needle: str) -> None:
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    assert needle in result.output.replace("\n", "")
    assert "Traceback" not in result.output


def test_bad_config_file_names_file_field_and_value(tmp_path: Path) -> None:
    for name in ("baselines.yaml", "windows.yaml"):
        (tmp_path / name).write_text((ROOT / "config" / name).read_text())
    data = yaml.safe_load((tmp_path / "windows.yaml").read_text())
    data["windows"][0]["waves"][0]["max_errors"] = "120%"
    (tmp_path / "windows.yaml").write_text(yaml.safe_dump(data))
    result = invoke("run", "--window", "weekly-test", "--config", str(tmp_path))
    assert result.exit_code == 2
    assert f"{tmp_path}/windows.yaml: windows[0].waves[0].max_errors = '120%'" in result.output.replace(
        "\n", ""
    )


def test_schema_exports_json_schema_for_each_file(tmp_path: Path) -> None:
    for kind, needle in (
        ("windows", "max_concurrency"),
        ("baselines", "rejected_patches_action"),
        ("fleet", "behaviour"),
    ):
        out = tmp_path / f"{kind}.json"
        assert invoke("schema", kind, "--output", str(out)).exit_code == 0
        schema = json.loads(out.read_text())
        assert needle in json.dumps(schema)
        assert schema.get("additionalProperties") is False or "$defs" in schema


def test_baselines_preview_shows_verdicts() -> None:
    result = runner.invoke(
        app,
        ["baselines", "preview", "--baseline", "AmazonLinuxSecAndNonSecBaseline", "--date", "2026-11-29"],
        env={"COLUMNS": "250"},
    )
    assert result.exit_code == 0, result.output
    assert "ALAS2023-2026-1142" in result.output and "rejected" in result.output
    assert "CRITICAL" in result.output


def test_plan_prints_waves_without_touching_the_fleet() -> None:
    result = runner.invoke(app, ["plan", "--window", "weekly-test"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    for wave in ("canary", "first-half", "rest"):
        assert wave in result.output
    assert "skipped_offline" in result.output
    assert "to install in 3 wave(s)" in result.output


def test_compliance_json() -> None:
    result = invoke("compliance", "--window", "weekly-test", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["total"] == 23 and data["non_compliant"] > 0


def test_real_console_script_exit_code_2() -> None:
    exe = Path(sys.executable).parent / "patchwave"
    proc = subprocess.run(
        [str(exe), "validate", "--config", "does-not-exist"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error: does-not-exist")


@pytest.mark.usefixtures("prefect_harness")
def test_run_writes_the_report_where_asked(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    result = runner.invoke(
        app,
        [
            "run",
            "--window",
            "weekly-test",
            "--speed",
            "0",
            "--report-json",
            str(out),
            "--report-dir",
            str(tmp_path),
        ],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["window"] == "weekly-test"
    assert data["totals"]["patched"] > 0 and data["totals"]["failed_install"] == 1
    assert "report (html)" in result.output
    assert sum(data["totals"].values()) == len(data["instances"]) == 23


def test_aws_without_credentials_is_one_clear_message(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    result = invoke("run", "--window", "weekly-test", "--fleet", "aws")
    assert result.exit_code == 2
    assert "no usable AWS credentials" in result.output
    monkeypatch.delenv("AWS_REGION")
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    result = invoke("baselines", "diff")
    assert result.exit_code == 2 and "no AWS region" in result.output
