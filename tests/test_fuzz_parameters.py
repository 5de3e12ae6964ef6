"""Deployment parameters, fuzzed: what a UI user types into the run form of each deployed flow
(patch-window, emergency-patch, retry-failed, rollback, scan-fleet, compliance-scan,
account-window, patch-accounts), through the path a deployment run takes: the flow engine's parameter
validation (``Flow.validate_parameters``, wrapped by ``flows.parameters.checked``), and, for a
sample, real flow calls. Every bad input ends in one line naming the parameter and its value
(a Failed state, for a flow call), before the flow's body: no traceback, no fleet built, no
file written.

``make test`` runs a fixed sample (300 generated inputs through the engine's validation, 30
as real flow calls); ``make test-full`` (PATCHWAVE_FULL=1) runs 5,000 of each."""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from flows.account_window import account_window
from flows.compliance_scan import compliance_scan
from flows.emergency_form import emergency_form
from flows.emergency_patch import emergency_patch
from flows.multi_account import patch_accounts
from flows.patch_window import patch_window
from flows.retry_failed import retry_failed
from flows.rollback import rollback
from flows.scan_fleet import scan_fleet
from patchwave.errors import ConfigError
from patchwave.state.ledger import RUN_ID
from patchwave.window.emergency import EmergencyRequest
from tests.helpers import group, ids, spec, window, write_config
from tests.test_fuzz_input import constructions

FULL = os.environ.get("PATCHWAVE_FULL") == "1"
FLOWS = {
    "patch-window": patch_window,
    "emergency-patch": emergency_patch,
    "emergency-form": emergency_form,
    "retry-failed": retry_failed,
    "rollback": rollback,
    "scan-fleet": scan_fleet,
    "compliance-scan": compliance_scan,
    "account-window": account_window,
    "patch-accounts": patch_accounts,
}
HOSTILE_TEXT = [
    "nan", "inf", "-1", "1e400", "../x", "../../etc/passwd", "/etc/passwd", "sim:/etc/passwd", "sim:",
    "sim:/dev/zero", "sim:/proc/self/environ", "sim:../../x", "[/bold]", "\x1b[31m", "a/b", "", " ",
    "$(id)", "`id`", "; rm -rf /", "aws:", "AWS", "x\x00y", "é" * 300, "\n", "<script>",
]  # fmt: skip
ANY_VALUE = st.one_of(
    st.sampled_from(HOSTILE_TEXT),
    st.text(max_size=20),
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.none(),
    st.booleans(),
    st.lists(st.text(max_size=4), max_size=2),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)
BAD_FOLDERS = ["/etc/passwd", "/proc/self/x", "/dev/zero", "/dev/zero/x", "x\x00y", "a" * 5000, "/proc"]
BAD_PATHS = st.one_of(
    st.sampled_from(BAD_FOLDERS), st.integers(), st.none(), st.lists(st.text(max_size=3), max_size=2)
)
BAD_PATCHES = st.sampled_from(
    [[""], [" "], ["a b c"], ["x" * 500], [1], "KB5000001", [None], [["x"]], ["$(id)"], ["../x"]]
)
BAD_INSTANCES = st.one_of(
    st.sampled_from([["i-1"], [""], ["../x"], "i-0123456789abcdef0", [1], [None], ["I-0123456789ABCDEF0"]]),
    st.lists(st.text(max_size=12), min_size=1, max_size=2),
)
BAD_TAGS = st.sampled_from(
    [{"": ["a"]}, {"PatchGroup": ["x"]}, {"k": []}, {"k": [""]}, {"k": "v"}, "k=v", [1], {"k": ["\x1b[31m"]}]
)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, config: Any) -> dict[str, Any]:
    """A config folder, a simulated fleet spec and a report folder; the valid parameters of
    each flow, which each generated input spoils one parameter of."""
    root = tmp_path_factory.mktemp("params")
    folder = write_config(root / "config", config.baselines, window([{"name": "all"}]))
    fleet = root / "fleet.yaml"
    fleet_spec = spec([group("a", ids("f3", 2))]).model_dump(mode="json")
    fleet_spec["state_file"] = str(root / "state.pickle")
    fleet.write_text(yaml.safe_dump(fleet_spec))
    (root / "reports").mkdir()
    common = {"config_dir": str(folder), "fleet": f"sim:{fleet}", "report_dir": str(root / "reports")}
    request = {"reason": "CVE fix", "instance_ids": ids("f3", 1)}
    form = {"reason": "CVE fix", "tags": [{"key": "Workload", "value": "Test"}]}
    scan = {"config_dir": common["config_dir"], "fleet": common["fleet"]}
    accounts = {**common, "window": "test-window"}
    valid = {
        "patch-window": {**common, "window": "test-window", "speed": 0},
        "emergency-patch": {**common, "request": request},
        "emergency-form": {**common, "request": form},
        "retry-failed": {**common, "run_id": "abc-123"},
        "rollback": {**common, "run_id": "abc-123", "instances": ids("f3", 1)},
        "scan-fleet": {**scan, "window": "test-window"},
        "compliance-scan": {**scan, "timeout_minutes": 5},
        "account-window": {**accounts, "account": "123456789012", "region": "eu-west-1"},
        "patch-accounts": {**accounts, "child_deployment": "account-window/accounts"},
    }  # fmt: skip
    return {"root": root, "valid": valid, "fleet": common["fleet"]}


def value_for(name: str) -> st.SearchStrategy[Any]:
    """Hostile values for one parameter: known-bad ones for paths, tags and patches, anything
    at all for the others (an oracle below tells the few good ones apart)."""
    if name in ("config_dir", "report_dir", "report_json", "report"):
        return BAD_PATHS
    if name == "patches":
        return BAD_PATCHES
    if name == "instances":
        return BAD_INSTANCES
    if name == "tags":
        return BAD_TAGS
    if name == "request":
        keys = [
            "reason",
            "instance_ids",
            "tags",
            "patches",
            "canary_count",
            "max_concurrency",
            "max_errors",
            "reboot",
        ]
        return st.one_of(ANY_VALUE, st.dictionaries(st.sampled_from(keys), ANY_VALUE, max_size=4))
    return ANY_VALUE


def _as(kind: Any, value: Any) -> Any:
    try:
        return TypeAdapter(kind).validate_python(value)
    except ValidationError:
        return ValueError


def acceptable(flow: str, name: str, value: Any, world: dict[str, Any]) -> bool:
    """The few generated values that are good input (pydantic decides the types, as Prefect
    does; the rest is what the parameter means)."""
    if name == "window":
        return value == "test-window" or (value is None and flow == "scan-fleet")  # optional there
    if name == "fleet":
        return value in ("aws", world["fleet"])
    if name == "speed":
        number = _as(float | None, value)
        return number is None or (number is not ValueError and math.isfinite(number) and 0 <= number <= 1e6)
    if name == "timeout_minutes":
        number = _as(int, value)
        return number is not ValueError and 1 <= number <= 1440
    if name in ("resume", "run_id"):
        text = _as(str | None, value)
        return text is None if name == "resume" else isinstance(text, str) and bool(RUN_ID.match(text))
    if name == "instances":
        found = _as(list[str], value)
        return isinstance(found, list) and all(
            re.fullmatch(r"i-[0-9a-f]{8}([0-9a-f]{9})?|mi-[0-9a-f]{17}", v) for v in found
        )
    if name == "account":
        return isinstance(value, str) and bool(re.fullmatch(r"\d{12}", value))
    if name == "region":
        return isinstance(value, str) and bool(re.fullmatch(r"[a-z]{2}(-[a-z]+)+-\d", value))
    if name == "child_deployment":
        return isinstance(value, str) and bool(
            re.fullmatch(r"[^/\x00-\x1f]{1,200}/[^/\x00-\x1f]{1,200}", value)
        )
    if name == "request" and flow == "emergency-patch":
        return _as(EmergencyRequest, value) is not ValueError
    if name == "request":  # the form: the pydantic model decides
        return _as(_form_type(), value) is not ValueError
    return False


def _form_type() -> Any:
    from flows.emergency_form import EmergencyForm

    return EmergencyForm


@st.composite
def spoiled(draw: Any, world: dict[str, Any]) -> tuple[str, str, Any, dict[str, Any]]:
    flow = draw(st.sampled_from(sorted(FLOWS)))
    names = sorted(world["valid"][flow])
    name = draw(st.sampled_from(names))
    value = draw(value_for(name))
    return flow, name, value, {**world["valid"][flow], name: value}


def files(root: Path) -> set[Path]:
    return set(root.rglob("*"))


def named(message: str, name: str) -> bool:
    """One line, naming the parameter: 'flow parameter: NAME[.field] = VALUE: reason'."""
    return "\n" not in message and "Traceback" not in message and f"flow parameter: {name}" in message


FUZZ = settings(
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@settings(FUZZ, max_examples=5000 if FULL else 300)
@given(data=st.data())
def test_fuzzed_parameters_through_the_engines_validation(
    data: st.DataObject, world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the flow engine runs before a deployment run's body: each bad input refused in
    one line naming the parameter and value; nothing built, nothing written."""
    flow, name, value, parameters = data.draw(spoiled(world))
    if acceptable(flow, name, value, world):
        return
    made = constructions(monkeypatch)
    before = files(world["root"])
    with pytest.raises(ConfigError) as refused:
        FLOWS[flow].validate_parameters(parameters)
    assert named(str(refused.value), name), (flow, name, value, str(refused.value))
    assert not made and files(world["root"]) == before


def test_valid_parameters_pass_the_engines_validation(world: dict[str, Any]) -> None:
    """The baseline of every generated input is good input: what the fuzz spoils is one value."""
    for flow, parameters in world["valid"].items():
        FLOWS[flow].validate_parameters(parameters)


@settings(FUZZ, max_examples=5000 if FULL else 30)
@given(data=st.data())
def test_fuzzed_parameters_as_real_flow_runs(
    data: st.DataObject, world: dict[str, Any], prefect_harness: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real flow run with one bad parameter (what a UI user starts): Failed, its message
    one line naming the parameter and value, before any fleet or file."""
    flow, name, value, parameters = data.draw(spoiled(world))
    if acceptable(flow, name, value, world):
        return
    made = constructions(monkeypatch)
    before = files(world["root"])
    state = FLOWS[flow](**parameters, return_state=True)
    assert state.is_failed(), (flow, name, value)
    assert (state.message or "").startswith("Validation of flow parameters failed with error: ConfigError: ")
    assert named(state.message or "", name), (flow, name, value, state.message)
    assert not made and files(world["root"]) == before
