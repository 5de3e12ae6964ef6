"""Bad input, fuzzed: config files, fleet specs, CLI arguments and flow parameters. Every case
ends in one clear message and exit code 2, or is accepted and works; none ends in a traceback;
none builds a fleet when refused."""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from patchwave.cli import app
from patchwave.config.loader import validate
from patchwave.errors import ConfigError
from patchwave.window.emergency import EmergencyRequest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = int(os.environ.get("PATCHWAVE_FUZZ", "40"))
runner = CliRunner()
ENV = {"COLUMNS": "2000"}

WEIRD = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=True),
    st.text(max_size=30),
    st.sampled_from(["$(rm -rf /)", "`id`", "; ls", "Ω≈ç√", "0%", "101%", "-1", "", " "]),
    st.lists(st.text(max_size=5), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


def paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    found = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found += paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += paths(value, (*prefix, index))
    return found


@st.composite
def mutated(draw: Any, document: Any) -> Any:
    doc = copy.deepcopy(document)
    for _ in range(draw(st.integers(1, 3))):
        candidates = paths(doc)[1:]
        if not candidates:
            break
        where = draw(st.sampled_from(candidates))
        parent = doc
        for step in where[:-1]:
            parent = parent[step]
        action = draw(st.sampled_from(["set", "delete", "add"]))
        if action == "set":
            parent[where[-1]] = draw(WEIRD)
        elif action == "delete" and isinstance(parent, dict):
            parent.pop(where[-1], None)
        elif isinstance(parent, dict):
            parent[draw(st.text(min_size=1, max_size=8))] = draw(WEIRD)
    return doc


def constructions(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    from patchwave.sim import fleet as sim_fleet

    made: list[int] = []
    original = sim_fleet.SimulatedFleet.__init__

    def counting(self, *args: Any, **kwargs: Any) -> None:
        made.append(1)
        original(self, *args, **kwargs)

    monkeypatch.setattr(sim_fleet.SimulatedFleet, "__init__", counting)
    return made


def check(result: Any, made: list[int]) -> None:
    assert result.exit_code in (0, 1, 2), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    if result.exit_code == 2:
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: "), result.output
        assert not made  # refused before any fleet was built


WINDOWS = yaml.safe_load((ROOT / "config/windows.yaml").read_text())
FLEET = yaml.safe_load((ROOT / "config/fleets/demo.yaml").read_text())
FUZZ = settings(
    derandomize=bool(os.environ.get("CI")),
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@FUZZ
@given(doc=mutated(WINDOWS))
def test_fuzzed_windows_file(
    doc: Any, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path_factory.mktemp("cfg")
    (folder / "baselines.yaml").write_text((ROOT / "config/baselines.yaml").read_text())
    (folder / "windows.yaml").write_text(yaml.safe_dump(doc, allow_unicode=True))
    made = constructions(monkeypatch)
    result = runner.invoke(app, ["validate", "--config", str(folder)], env=ENV)
    check(result, made)
    if result.exit_code == 0 and doc.get("windows"):
        name = doc["windows"][0]["name"]
        planned = runner.invoke(app, ["plan", "--window", str(name), "--config", str(folder)], env=ENV)
        assert planned.exit_code == 0, planned.output  # accepted means it works


@FUZZ
@given(doc=mutated(FLEET))
def test_fuzzed_fleet_spec(
    doc: Any, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path_factory.mktemp("fleet")
    (folder / "fleet.yaml").write_text(yaml.safe_dump(doc, allow_unicode=True))
    made = constructions(monkeypatch)
    result = runner.invoke(app, ["validate", "--fleet", f"sim:{folder / 'fleet.yaml'}"], env=ENV)
    check(result, made)
    if result.exit_code == 0:
        made.clear()
        listed = runner.invoke(
            app, ["compliance", "--json", "--fleet", f"sim:{folder / 'fleet.yaml'}"], env=ENV
        )
        assert listed.exit_code == 0, listed.output


ARGS = st.lists(
    st.one_of(
        st.sampled_from(
            ["--window", "--tag", "--speed", "--fleet", "--config", "--date", "--baseline", "-w", "--json"]
        ),
        st.one_of(
            st.text(max_size=30),
            st.sampled_from(["$(rm -rf /)", "`id`", "; ls", "Ω≈ç√", "0%", "-1", "", " "]),
        ),
    ),
    max_size=6,
)


@FUZZ
@given(
    command=st.sampled_from([["plan"], ["compliance"], ["validate"], ["baselines", "preview"], ["schema"]]),
    args=ARGS,
)
def test_fuzzed_cli_arguments(command: list[str], args: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    made = constructions(monkeypatch)
    result = runner.invoke(app, [*command, *args], env=ENV)
    if result.exit_code == 2 and ("Usage:" in result.output or "─ Error ─" in result.output):
        assert not made  # the argument parser refused it, in one framed message: nothing ran
        assert "Traceback" not in result.output
        return
    check(result, made)


@FUZZ
@given(
    data=st.dictionaries(
        st.sampled_from(
            [
                "reason",
                "instance_ids",
                "tags",
                "patches",
                "canary",
                "canary_count",
                "max_concurrency",
                "max_errors",
                "reboot",
                "colour",
            ]
        ),
        WEIRD,
    )
)
def test_fuzzed_emergency_parameters(data: dict[str, Any]) -> None:
    try:
        request = validate(EmergencyRequest, data, "emergency")
    except ConfigError as exc:
        assert str(exc).startswith("emergency: ")
        return
    assert request.instance_ids or request.tags  # accepted requests name their targets
