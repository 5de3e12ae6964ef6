"""Config validation: every refusal names the file, the field and the value."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from patchwave.config import load_config
from patchwave.errors import ConfigError
from patchwave.window.ratespec import concurrency_for, errors_tolerated, parse_rate

ROOT = Path(__file__).resolve().parent.parent


def write_config(tmp_path: Path, baselines: object | None = None, windows: object | None = None) -> Path:
    base = yaml.safe_load((ROOT / "config/baselines.yaml").read_text())
    wins = yaml.safe_load((ROOT / "config/windows.yaml").read_text())
    (tmp_path / "baselines.yaml").write_text(yaml.safe_dump(baselines if baselines is not None else base))
    (tmp_path / "windows.yaml").write_text(yaml.safe_dump(windows if windows is not None else wins))
    return tmp_path


def default_windows() -> dict:
    return yaml.safe_load((ROOT / "config/windows.yaml").read_text())


def default_baselines() -> dict:
    return yaml.safe_load((ROOT / "config/baselines.yaml").read_text())


def test_default_config_is_the_classic_patch_manager_set_up() -> None:
    config = load_config(ROOT / "config")
    (baseline,) = config.baselines.baselines
    assert baseline.name == "AmazonLinuxSecAndNonSecBaseline"
    assert baseline.operating_system == "AMAZON_LINUX_2023"
    assert [r.compliance_level for r in baseline.approval_rules] == ["CRITICAL", "MEDIUM"]
    assert [r.approve_after_days for r in baseline.approval_rules] == [0, 0]
    assert [r.enable_non_security for r in baseline.approval_rules] == [False, True]
    assert baseline.rejected_patches == ["system-release.*"]
    assert baseline.patch_groups == ["Critical"]
    window = config.window("weekly-test")
    assert window.targets.tags == {"Workload": ["Test"]}


def mutate_window(change) -> dict:
    data = default_windows()
    change(data["windows"][0])
    return data


def mutate_baseline(change) -> dict:
    data = default_baselines()
    change(data["baselines"][0])
    return data


REFUSALS = [
    # (which file, mutation, field in message, value in message)
    ("windows", lambda w: w.update(colour="blue"), "windows[0].colour", "blue"),
    ("windows", lambda w: w["schedule"].update(cron="0 3 * *"), "windows[0].schedule.cron", "0 3 * *"),
    (
        "windows",
        lambda w: w["schedule"].update(cron="61 3 * * SUN"),
        "windows[0].schedule.cron",
        "61 3 * * SUN",
    ),
    (
        "windows",
        lambda w: w["schedule"].update(timezone="Mars/Olympus"),
        "windows[0].schedule.timezone",
        "Mars/Olympus",
    ),
    (
        "windows",
        lambda w: w["waves"][1].update(max_concurrency="150%"),
        "windows[0].waves[1].max_concurrency",
        "150%",
    ),
    ("windows", lambda w: w["waves"][1].update(max_errors="101%"), "windows[0].waves[1].max_errors", "101%"),
    ("windows", lambda w: w["waves"][1].update(max_errors="ten"), "windows[0].waves[1].max_errors", "ten"),
    (
        "windows",
        lambda w: w["waves"][1].update(max_concurrency="0"),
        "windows[0].waves[1].max_concurrency",
        "0",
    ),
    ("windows", lambda w: w.update(waves=[]), "windows[0].waves", "[]"),
    ("windows", lambda w: w["waves"][2].update(name="canary"), "windows[0]", "canary"),
    (
        "windows",
        lambda w: w["targets"].update(tags={"patch group": ["Critical"]}),
        "windows[0].targets.tags",
        "patch group",
    ),
    (
        "windows",
        lambda w: w["targets"].update(tags={"PATCH GROUP": ["Critical"]}),
        "windows[0].targets.tags",
        "PATCH GROUP",
    ),
    (
        "windows",
        lambda w: w["targets"].update(instance_ids=["web-1"]),
        "windows[0].targets.instance_ids",
        "web-1",
    ),
    ("windows", lambda w: w.update(cutoff_hours=4), "windows[0]", "cutoff_hours 4"),
    ("windows", lambda w: w.update(reboot="sometimes"), "windows[0].reboot", "sometimes"),
    (
        "windows",
        lambda w: w.update(pacing={"min_poll_seconds": 0.1}),
        "windows[0].pacing.min_poll_seconds",
        "0.1",
    ),
    (
        "windows",
        lambda w: w.update(pacing={"min_poll_seconds": 30, "max_poll_seconds": 10}),
        "windows[0].pacing",
        "min_poll_seconds must not exceed max_poll_seconds",
    ),
    (
        "baselines",
        lambda b: b["approval_rules"][0].update(approve_after_days=361),
        "baselines[0].approval_rules[0].approve_after_days",
        "361",
    ),
    (
        "baselines",
        lambda b: b["approval_rules"][0].update(approve_until_date="2026-12-01"),
        "baselines[0].approval_rules[0]",
        "exactly one",
    ),
    (
        "baselines",
        lambda b: b["approval_rules"][0].update(compliance_level="URGENT"),
        "baselines[0].approval_rules[0].compliance_level",
        "URGENT",
    ),
    ("baselines", lambda b: b.update(operating_system="BEOS"), "baselines[0].operating_system", "BEOS"),
    (
        "baselines",
        lambda b: b["approval_rules"][0]["filters"].update(MSRC_SEVERITY=["Critical"]),
        "baselines[0]",
        "MSRC_SEVERITY",
    ),
    (
        "baselines",
        lambda b: b.update(rejected_patches_action="IGNORE"),
        "baselines[0].rejected_patches_action",
        "IGNORE",
    ),
    ("baselines", lambda b: b.update(approved_pathces=["x"]), "baselines[0].approved_pathces", "x"),
]


@pytest.mark.parametrize(("which", "change", "field", "value"), REFUSALS)
def test_invalid_config_is_refused_with_file_field_and_value(
    tmp_path: Path, which, change, field, value
) -> None:
    if which == "windows":
        folder = write_config(tmp_path, windows=mutate_window(change))
    else:
        folder = write_config(tmp_path, baselines=mutate_baseline(change))
    with pytest.raises(ConfigError) as caught:
        load_config(folder)
    message = str(caught.value)
    assert message.startswith(str(folder / f"{which}.yaml"))
    assert field in message
    assert value in message


def test_a_patch_group_registered_to_two_baselines_for_one_os_is_refused(tmp_path: Path) -> None:
    data = default_baselines()
    twin = dict(data["baselines"][0], name="AnotherBaseline")
    data["baselines"].append(twin)
    with pytest.raises(ConfigError) as caught:
        load_config(write_config(tmp_path, baselines=data))
    assert "baselines.yaml" in str(caught.value)
    assert "'Critical' is already registered to 'AmazonLinuxSecAndNonSecBaseline'" in str(caught.value)


def test_the_same_patch_group_may_serve_two_operating_systems(tmp_path: Path) -> None:
    data = default_baselines()
    data["baselines"].append(
        {
            "name": "UbuntuCritical",
            "operating_system": "UBUNTU",
            "patch_groups": ["Critical"],
            "approval_rules": [{"filters": {"PRIORITY": ["Required"]}}],
        }
    )
    config = load_config(write_config(tmp_path, baselines=data))
    assert len(config.baselines.baselines) == 2


def test_two_defaults_for_one_os_are_refused(tmp_path: Path) -> None:
    data = default_baselines()
    data["baselines"][0]["default_for_os"] = True
    data["baselines"].append(dict(data["baselines"][0], name="Other", patch_groups=[]))
    with pytest.raises(ConfigError, match="already has default baseline"):
        load_config(write_config(tmp_path, baselines=data))


def test_yaml_syntax_and_duplicate_keys_are_refused(tmp_path: Path) -> None:
    write_config(tmp_path)
    (tmp_path / "windows.yaml").write_text("windows:\n  - name: a\n    name: b\n")
    with pytest.raises(ConfigError, match="duplicate key 'name'"):
        load_config(tmp_path)
    (tmp_path / "windows.yaml").write_text("windows: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(tmp_path)


def test_missing_file_is_named(tmp_path: Path) -> None:
    write_config(tmp_path)
    (tmp_path / "baselines.yaml").unlink()
    with pytest.raises(ConfigError, match="baselines.yaml.*file not found"):
        load_config(tmp_path)


@pytest.mark.parametrize(
    ("spec", "targets", "concurrency", "tolerated"),
    [
        ("1", 10, 1, 1),
        ("10%", 50, 5, 5),  # 10% of 50 tolerates 5: the 6th error halts
        ("10%", 5, 1, 0),  # concurrency rounds up, at least 1; errors round down
        ("25%", 10, 3, 2),
        ("100%", 7, 7, 7),
        ("0", 10, 1, 0),
        ("80", 5, 5, 80),  # concurrency never exceeds the wave
    ],
)
def test_rate_rounding(spec: str, targets: int, concurrency: int, tolerated: int) -> None:
    if spec != "0":
        assert concurrency_for(spec, targets) == concurrency
    assert errors_tolerated(spec, targets) == tolerated


@pytest.mark.parametrize("bad", ["", "-1", "1.5", "101%", "%", "5 %", "x"])
def test_rate_refuses(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_rate(bad)
