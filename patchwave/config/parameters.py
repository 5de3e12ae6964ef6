"""Values a person types as flow parameters (the Prefect UI's run form, ``run_deployment``),
checked the way the CLI checks its options, before anything is built: each refusal is one
``ConfigError`` naming the parameter and its value, never a traceback, never a fleet call,
never a file written (the report folder, checked by writing a probe, is checked last).

Prefect's own validation (types, coercion) runs first (``flows.parameters``); these are the
checks of what the types let through: a speed that is NaN, a run id that is a path, a fleet
spec that is /dev/zero, a report folder under /proc, a tag key that is a near miss.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from patchwave.errors import ConfigError, PatchwaveError

SOURCE = "flow parameter"
ACCOUNT = re.compile(r"^\d{12}$")
REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")
DEPLOYMENT = re.compile(r"^[^/\x00-\x1f]{1,200}/[^/\x00-\x1f]{1,200}$")


def check_speed(value: float | None, source: str = SOURCE, field: str = "speed") -> float | None:
    """None (the spec's clock), 0 (virtual time) or a finite factor up to a million."""
    if value is not None and not (math.isfinite(value) and 0 <= value <= 1_000_000):
        raise ConfigError(source, field, value, "must be between 0 and 1000000")
    return value


def _writable(value: str, field: str) -> None:
    """A folder reports can be written in: checked as the CLI checks it (created when
    missing, a probe file written and removed), so it is checked last, once every other
    parameter is good: a refused run creates nothing."""
    from patchwave.state.ledger import check_writable

    if not value.isprintable():  # a NUL or a control character: no folder is named so
        raise ConfigError(SOURCE, field, value, "not a usable path")
    check_writable(value, field)


def _timeout(value: int) -> None:
    if not 1 <= value <= 24 * 60:
        raise ConfigError(SOURCE, "timeout_minutes", value, "must be between 1 and 1440")


def _tags(value: dict[str, list[str]] | None) -> None:
    from patchwave.config.windows import check_tag_key

    for key, values in (value or {}).items():
        check_tag_key(key)
        if not values or any(not v or not v.isprintable() or len(v) > 256 for v in values):
            raise ConfigError(SOURCE, f"tags.{key}", values, "expected one or more tag values")


def _run_id(field: str) -> Callable[[str | None], None]:
    def check(value: str | None) -> None:
        from patchwave.state.ledger import check_run_id

        if value is not None:
            check_run_id(value, SOURCE, field)

    return check


def _fleet(value: str) -> None:
    from patchwave.connect import parse_fleet_option

    kind, path = parse_fleet_option(value)
    if kind == "sim" and "{account}" not in path and "{region}" not in path:
        from patchwave.sim import load_spec

        load_spec(path)  # hostile files refused in one line naming the file, never its contents


def _patches(value: list[str] | None) -> None:
    from patchwave.window.named import check_names

    check_names(value or [])


def _pattern(field: str, pattern: re.Pattern[str], expected: str) -> Callable[[str], None]:
    def check(value: str) -> None:
        if not pattern.match(value):
            raise ConfigError(SOURCE, field, value, f"expected {expected}")

    return check


def _instances(value: list[str] | None) -> None:
    from patchwave.config.windows import INSTANCE_ID

    for instance_id in value or []:
        if not INSTANCE_ID.match(instance_id):
            raise ConfigError(SOURCE, "instances", instance_id, "expected an instance id (i-... or mi-...)")


def _report(value: str | None) -> None:
    if value is not None and not Path(value).is_file():
        raise ConfigError(SOURCE, "report", value, "no such report file")


CHECKS: dict[str, Callable[[Any], object]] = {
    "speed": check_speed,
    "timeout_minutes": _timeout,
    "tags": _tags,
    "resume": _run_id("resume"),
    "run_id": _run_id("run_id"),
    "fleet": _fleet,
    "patches": _patches,
    "account": _pattern("account", ACCOUNT, "a 12-digit account id"),
    "region": _pattern("region", REGION, "a region such as eu-west-1"),
    "child_deployment": _pattern("child_deployment", DEPLOYMENT, "'FLOW/DEPLOYMENT'"),
    "report": _report,
    "instances": _instances,
}


def _checked(name: str, value: Any, check: Callable[[Any], Any]) -> Any:
    """One check, its refusal as one ConfigError naming the parameter and value."""
    try:
        return check(value)
    except ConfigError as exc:
        if exc.source == SOURCE:
            raise
        if exc.source.startswith("--"):  # said in the CLI's words: say it in the parameter's
            raise ConfigError(SOURCE, name, value, exc.reason) from None
        raise ConfigError(SOURCE, name, value, str(exc)) from None  # a file's error, file named
    except PatchwaveError as exc:
        raise ConfigError(SOURCE, name, value, str(exc)) from None
    except (ValueError, OSError, TypeError) as exc:  # a path with a NUL, a name too long, ...
        reason = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
        raise ConfigError(SOURCE, name, value, reason) from None


def check_parameters(values: dict[str, Any]) -> None:
    """Every parameter a flow was given, checked (ConfigError, one line) before the flow runs:
    the config folder and window first (their errors name the file), then each value."""
    from patchwave.config import load_config

    if "config_dir" in values:
        config = _checked("config_dir", values["config_dir"], load_config)
        if values.get("window") is not None:
            _checked("window", values["window"], config.window)
    for name, value in values.items():
        if name in CHECKS:
            _checked(name, value, CHECKS[name])
    if "report" in values and "run_id" in values:  # retry: exactly one way to name the run
        from patchwave.window.retry import check_one_run

        report, run_id = values["report"], values["run_id"]
        _checked("run_id", run_id, lambda _: check_one_run(report, run_id, "report", "run_id"))
    if values.get("report_dir") is not None:  # last: the one check that creates a folder
        _checked("report_dir", values["report_dir"], lambda v: _writable(v, "report_dir"))
    if values.get("report_json") is not None:
        folder = str(Path(values["report_json"]).parent)
        _checked("report_json", values["report_json"], lambda v: _writable(folder, "report_json"))
