"""The compliance-scan deployment: daily by default, its schedule from history.yaml."""

from __future__ import annotations

import shutil
from pathlib import Path

from deployments.windows import ENTRYPOINTS, deployment_specs
from patchwave.config import load_config


def test_compliance_scan_is_deployed_daily_from_history_yaml(config, tmp_path: Path) -> None:
    specs = {s["name"]: s for s in deployment_specs(config, "aws", "reports", None)}
    scan = specs["compliance-scan"]
    (schedule,) = scan["schedules"]
    assert (schedule.cron, schedule.timezone) == ("0 6 * * *", "UTC")
    assert scan["flow"].name == "compliance-scan" and "compliance-scan" in ENTRYPOINTS
    assert scan["parameters"] == {"config_dir": str(config.directory), "fleet": "aws"}
    for name in ("baselines.yaml", "windows.yaml"):
        shutil.copy(config.directory / name, tmp_path / name)
    (tmp_path / "history.yaml").write_text(
        "compliance_scan: {cron: '30 1 * * MON-FRI', timezone: Europe/Paris}\n"
    )
    specs = {s["name"]: s for s in deployment_specs(load_config(tmp_path), "aws", "reports", None)}
    (schedule,) = specs["compliance-scan"]["schedules"]
    assert (schedule.cron, schedule.timezone) == ("30 1 * * MON-FRI", "Europe/Paris")
