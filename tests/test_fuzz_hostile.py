"""Hostile input, for real: alias bombs, deep nesting, /dev/zero, a FIFO, a 200 MB file,
non-UTF-8, someone else's file as a fleet spec, rich markup and terminal escapes in user text,
bad --speed and --resume values, an unwritable report folder, two writers on one simulator
state file; then thousands of generated bad `patchwave run` arguments. Each refusal: exit 2,
one line, no traceback, no fleet built, no file written."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from patchwave.cli import app
from patchwave.state.ledger import Ledger
from tests.helpers import group, ids, spec, window, write_config
from tests.test_fuzz_input import check, constructions

ROOT = Path(__file__).resolve().parent.parent
FULL = os.environ.get("PATCHWAVE_FULL") == "1"
runner = CliRunner()
ENV = {"COLUMNS": "2000"}


@pytest.fixture
def setup(tmp_path: Path, config: Any) -> dict[str, Path]:
    other = window([{"name": "all"}], name="other-window")
    folder = write_config(tmp_path / "config", config.baselines, window([{"name": "all"}]), other)
    fleet = tmp_path / "fleet.yaml"
    fleet_spec = spec([group("a", ids("f1", 2))]).model_dump(mode="json")
    fleet_spec["state_file"] = str(tmp_path / "state.pickle")
    fleet.write_text(yaml.safe_dump(fleet_spec))
    return {"config": folder, "fleet": fleet, "reports": tmp_path / "reports", "root": tmp_path}


def run_args(paths: dict[str, Path], *extra: str, window_name: str = "test-window") -> list[str]:
    return [
        "run", "-w", window_name, "-c", str(paths["config"]), "-f", f"sim:{paths['fleet']}",
        "--report-dir", str(paths["reports"]), *extra,
    ]  # fmt: skip


def refused(result: Any, made: list[int], started: float) -> str:
    check(result, made)
    assert result.exit_code == 2, result.output
    assert time.monotonic() - started < 5, "a refusal must not hang or churn"
    return str(result.output)


BOMB = "a: &a [x,x,x,x,x,x,x,x,x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{','.join([f'*{chr(97 + i)}'] * 9)}]\n" for i in range(8)
)


@pytest.mark.parametrize(
    "make, reason",
    [
        (lambda p: p.write_text(BOMB), "aliases are expanded"),
        (lambda p: p.write_text("[" * 100_000 + "]" * 100_000), "nested deeper"),
        (lambda p: p.symlink_to("/dev/zero"), "not a regular file"),
        (lambda p: os.mkfifo(p), "not a regular file"),
        (lambda p: os.truncate(p, 200 * 1024 * 1024) if p.touch() is None else None, "the limit is"),
        (lambda p: p.write_bytes(b"windows: []\nname: \xff\xfe\n"), "not UTF-8"),
        (lambda p: p.write_text("root:x:0:0:root:/root:/bin/bash\n"), "expected a mapping"),
    ],
    ids=["alias-bomb", "deep-nesting", "dev-zero", "fifo", "200MB", "not-utf8", "not-a-mapping"],
)
def test_hostile_windows_file(
    make: Any, reason: str, setup: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    target = setup["config"] / "windows.yaml"
    target.unlink()
    make(target)
    made = constructions(monkeypatch)
    started = time.monotonic()
    output = refused(runner.invoke(app, run_args(setup), env=ENV), made, started)
    assert str(target) in output and reason in output
    assert "root:x" not in output
    assert not setup["reports"].exists()  # nothing written


def test_someone_elses_file_as_fleet_spec_is_not_shown(
    setup: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    made = constructions(monkeypatch)
    started = time.monotonic()
    args = ["plan", "-w", "test-window", "-c", str(setup["config"]), "-f", "sim:/etc/passwd"]
    output = refused(runner.invoke(app, args, env=ENV), made, started)
    assert "/etc/passwd" in output and "root" not in output.replace("/etc/passwd", "")


@pytest.mark.parametrize("speed", ["nan", "inf", "-inf", "-1", "1e308", "2000000"])
def test_speed_must_be_finite_and_bounded(
    speed: str, setup: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    made = constructions(monkeypatch)
    output = refused(runner.invoke(app, run_args(setup, "--speed", speed), env=ENV), made, time.monotonic())
    assert "--speed" in output


@pytest.mark.parametrize(
    "run_id", ["../../x", "/etc/passwd", "a/b", ".hidden", "x" * 200, "run id", "run\x1b[31m"]
)
def test_resume_takes_a_run_id_only(
    run_id: str, setup: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    made = constructions(monkeypatch)
    output = refused(runner.invoke(app, run_args(setup, "--resume", run_id), env=ENV), made, time.monotonic())
    assert "--resume" in output and "\x1b" not in output
    assert not (setup["root"] / "x.jsonl").exists() and not setup["reports"].exists()


def test_resume_of_another_windows_run_is_refused(
    setup: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger = Ledger(setup["reports"] / ".runs" / "run-7.jsonl")
    ledger.write(
        [("start", {"window": "other-window", "snapshot_id": "s"}), ("plan", {"plan": {}, "before": {}})]
    )
    ledger.close()
    made = constructions(monkeypatch)
    output = refused(
        runner.invoke(app, run_args(setup, "--resume", "run-7"), env=ENV), made, time.monotonic()
    )
    assert "other-window" in output


def test_an_unwritable_report_folder_is_refused_before_any_fleet_call(
    setup: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    setup["reports"].write_text("a file where the folder should be")
    made = constructions(monkeypatch)
    output = refused(runner.invoke(app, run_args(setup), env=ENV), made, time.monotonic())
    assert "--report-dir" in output and "not writable" in output


def test_markup_and_escapes_in_user_text_print_as_text(tmp_path: Path, config: Any) -> None:
    folder = write_config(tmp_path / "config", config.baselines, window([{"name": "all"}]))
    fleet = spec([group("a", ids("f2", 1), tags={"Patch Group": "[/bold]\x1b[2J[red]x"})]).model_dump(
        mode="json"
    )
    (tmp_path / "fleet.yaml").write_text(yaml.safe_dump(fleet))
    args = ["plan", "-w", "test-window", "-c", str(folder), "-f", f"sim:{tmp_path / 'fleet.yaml'}"]
    result = runner.invoke(app, args, env=ENV)
    assert result.exit_code == 0, result.output
    assert "[/bold]" in result.output and "\x1b" not in result.output


HOLD = """
import sys, time
from pathlib import Path
from patchwave.sim import state_file
state_file.claim(Path(sys.argv[1]))
print("holding", flush=True)
time.sleep(600)
"""


def test_a_second_writer_of_a_simulator_state_file_is_refused(
    setup: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(setup["root"] / "state.pickle")], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        made = constructions(monkeypatch)
        output = refused(runner.invoke(app, run_args(setup), env=ENV), made, time.monotonic())
        assert f"in use by another process (pid {holder.pid})" in output
    finally:
        holder.kill()
        holder.wait(timeout=30)


BAD_TEXT = st.one_of(
    st.sampled_from(["nan", "inf", "-1", "1e400", "../x", "/etc/passwd", "sim:/etc/passwd", "sim:",
                     "sim:/dev/zero", "[/bold]", "\x1b[31m", "a/b", "", " ", "$(id)", "aws:",
                     "sim:/proc/self/environ"]),
    st.text(max_size=20),
)  # fmt: skip
OPTIONS = ["--speed", "--resume", "--fleet", "--window"]  # folders: the tests above


def acceptable(option: str, value: str) -> bool:
    """The few generated values that are good input (they would run a window)."""
    if option == "--window":
        return value in ("test-window", "other-window")
    if option == "--fleet":
        return value == "aws"
    if option == "--speed":
        try:
            return 0 <= float(value) <= 1_000_000
        except ValueError:
            return False
    return False


@settings(
    max_examples=5000 if FULL else 60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(option=st.sampled_from(OPTIONS), value=BAD_TEXT)
def test_fuzzed_run_arguments(
    option: str, value: str, setup: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A `patchwave run` with one hostile option value: refused (exit 2, one line, nothing
    built, nothing written), never a traceback."""
    args = run_args(setup)
    if option in args:
        args[args.index(option) + 1] = value
    else:
        args += [option, value]
    if acceptable(option, value):
        return
    before = {p for p in setup["root"].rglob("*")}
    made = constructions(monkeypatch)
    result = runner.invoke(app, args, env=ENV)
    if result.exit_code == 2 and ("Usage:" in result.output or "─ Error ─" in result.output):
        assert not made and "Traceback" not in result.output
        return
    assert result.exit_code == 2, (option, value, result.output)
    check(result, made)
    assert {p for p in setup["root"].rglob("*")} == before  # nothing written
