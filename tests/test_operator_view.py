"""What an operator reads: report names, the report's first line and drill-down, escaping,
failures first, the retry budget, plan output and CLI messages (issue: the operator's night)."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from patchwave.cli import app
from patchwave.config.aws import CommandOutput
from patchwave.prefect_env import prefect_start_failure
from patchwave.reports.output import output_location
from patchwave.reports.render import failures_first, to_html, to_markdown
from patchwave.reports.report import PatchesBeforeAfter, PatchLine, report_stem
from patchwave.window.outcomes import Outcome
from patchwave.window.retry import find_report, retry_window
from tests.report_samples import halted_report

runner = CliRunner()
ROOT = Path(__file__).resolve().parent.parent


def test_report_names_carry_the_run_id_and_the_real_start(config) -> None:
    first = halted_report(config, run_id="run-a")
    second = halted_report(config, run_id="run-b")
    assert first.started_at == second.started_at  # the same simulated start...
    assert report_stem(first) != report_stem(second)  # ...never the same file
    assert "run-a" in report_stem(first) and first.wall_started_at is not None
    assert report_stem(first).startswith(f"{first.window}-{first.wall_started_at:%Y%m%dT%H%M%SZ}")
    later = first.model_copy(update={"attempt": 2})
    assert report_stem(later).endswith("-attempt2")


def test_run_id_resolves_to_exactly_one_report_the_latest_attempt(config, tmp_path: Path) -> None:
    for attempt in (1, 2):
        report = halted_report(config, run_id="run-x").model_copy(update={"attempt": attempt})
        (tmp_path / f"{report_stem(report)}.json").write_text(report.to_json())
    other = halted_report(config, run_id="run-y")
    (tmp_path / f"{report_stem(other)}.json").write_text(other.to_json())
    assert json.loads(find_report(tmp_path, "run-x").read_text())["attempt"] == 2
    assert json.loads(find_report(tmp_path, "run-y").read_text())["run_id"] == "run-y"


def test_first_line_says_why_the_window_stopped_and_failures_come_first(config) -> None:
    report = halted_report(config)
    assert report.status == "halted" and report.stop_reason.startswith("wave 'web' halted")
    first_line = to_markdown(report).splitlines()[0]
    assert "halted" in first_line and "web" in first_line
    ordered = failures_first(report)
    assert ordered[0].outcome == Outcome.FAILED_INSTALL
    assert [i.outcome for i in ordered].index(Outcome.PATCHED) > [i.outcome for i in ordered].index(
        Outcome.NOT_ATTEMPTED
    )
    page = to_html(report)
    rows = page.split("<tbody>", 1)[1]
    assert rows.index("failed_install") < rows.index("patched")
    assert 'id="f-outcome"' in page and 'id="f-wave"' in page and "http" not in page.split("<style>")[0]
    assert "src=" not in page and "<link" not in page  # offline: nothing fetched


def test_user_and_fleet_text_is_escaped_in_markdown_and_html(config) -> None:
    report = halted_report(config, reason="[/bold] <img src=x onerror=alert(1)> | *x* `y`\x1b[31m")
    item = report.instances[0].model_copy(
        update={
            "error": "<script>alert(1)</script>",
            "patches": PatchesBeforeAfter(
                before=[
                    PatchLine(
                        id="<b>KB1</b>", severity="Critical", classification="Security", state="MISSING"
                    )
                ],
                after=[
                    PatchLine(id="<b>KB1</b>", severity="Critical", classification="Security", state="FAILED")
                ],
            ),
        }
    )
    report = report.model_copy(update={"instances": [item, *report.instances[1:]]})
    markdown, page = to_markdown(report), to_html(report)
    assert " <img" not in markdown and "\\<img" in markdown and "\\|" in markdown and "\\*x\\*" in markdown
    assert "\x1b" not in markdown
    assert "<script>alert" not in page and "&lt;script&gt;alert" in page and "&lt;b&gt;KB1" in page
    assert "Critical, Security" in page and "MISSING" in page and "FAILED" in page


def test_output_location_of_a_command_on_aws() -> None:
    where = output_location(
        CommandOutput(
            s3_bucket="ops-output", s3_key_prefix="patchwave/out", cloudwatch_log_group="/patchwave"
        ),
        "eu-west-1",
        "run-1",
        "cmd-1",
        "i-0123456789abcdef0",
        "WINDOWS",
    )
    assert where["s3"] == "s3://ops-output/patchwave/out/run-1/cmd-1/i-0123456789abcdef0/PatchWindows/"
    assert where["cloudwatch"] == "/patchwave:cmd-1/i-0123456789abcdef0/PatchWindows/stdout"
    assert where["console"].startswith(
        "https://eu-west-1.console.aws.amazon.com/systems-manager/run-command/cmd-1/"
    )


def test_a_retried_wave_keeps_the_waves_own_budget_in_absolute_numbers(config) -> None:
    report = halted_report(config)
    (web,) = [w for w in report.waves if w.name == "web"]
    retry = retry_window(report, config.window("weekly-test").model_copy(update={"waves": _waves(config)}))
    (retried,) = [w for w in retry.waves if w.name == "web"]
    assert retried.max_errors == str(web.max_errors) and retried.max_concurrency == str(web.max_concurrency)


def _waves(config):
    from patchwave.config.windows import Wave
    from tests.report_samples import WAVES

    return [Wave.model_validate(w) for w in WAVES]


def test_plan_json_and_whole_ids_when_piped() -> None:
    result = runner.invoke(app, ["plan", "-w", "weekly-test", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["window"] == "weekly-test" and data["targets"] == 23
    ids = [i["instance_id"] for w in data["waves"] for i in w["instances"]]
    piped = subprocess.run(
        [str(Path(sys.executable).parent / "patchwave"), "plan", "-w", "weekly-test"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "60", "HOME": str(ROOT)},
        timeout=120,
    )
    assert piped.returncode == 0, piped.stderr
    assert all(iid in piped.stdout for iid in ids) and "…" not in piped.stdout


def test_help_has_no_bool_and_retry_speaks_the_users_words() -> None:
    for command in ("run", "demo", "emergency", "retry", "plan", "approve"):
        text = runner.invoke(app, [command, "--help"], env={"COLUMNS": "200"}).output
        assert "<bool>" not in text, command
    neither = runner.invoke(app, ["retry"])
    assert neither.exit_code == 2 and "None" not in neither.output
    assert "--report or --run-id" in neither.output
    both = runner.invoke(app, ["retry", "--report", "x.json", "--run-id", "abc"])
    assert both.exit_code == 2 and "give only one of them" in both.output and "None" not in both.output


def test_prefect_that_cannot_start_is_one_line_that_says_what_to_do() -> None:
    error = RuntimeError("Timed out while attempting to connect to ephemeral Prefect API server.")
    line = prefect_start_failure(error)
    assert line is not None and "\n" not in line and "PREFECT_API_URL" in line and "again" in line
    assert prefect_start_failure(ValueError("something else")) is None


def test_wall_start_is_real_time(config) -> None:
    report = halted_report(config)
    assert report.wall_started_at is not None
    assert abs(report.wall_started_at - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=5)


def test_a_prefect_server_that_does_not_start_in_time_is_one_line(tmp_path: Path) -> None:
    """The real temporary server, given 1 s to start (it needs several): one line, exit 1."""
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "PREFECT_HOME": str(tmp_path / "prefect-home"),
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "1",
    }
    result = subprocess.run(
        [str(Path(sys.executable).parent / "patchwave"), "run", "-w", "weekly-test", "--speed", "0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "did not start within 1 s" in errors[0] and "PREFECT_API_URL" in errors[0]
    assert "Traceback" not in result.stdout + result.stderr
