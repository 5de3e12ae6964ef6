"""The compliance-scan deployment: its schedule comes from history.yaml (daily by default)."""

from __future__ import annotations

from typing import Any

from prefect.schedules import Cron

from flows.compliance_scan import compliance_scan
from patchwave.config import Config
from patchwave.config.history import load_history_settings

ENTRYPOINT = "flows/compliance_scan.py:compliance_scan"


def compliance_scan_spec(config: Config, base: dict[str, Any], tag: str) -> dict[str, Any]:
    schedule = load_history_settings(config.directory).compliance_scan
    return {
        "flow": compliance_scan,
        "name": "compliance-scan",
        "schedules": [Cron(schedule.cron, timezone=schedule.timezone)] if schedule else [],
        "parameters": {k: v for k, v in base.items() if k != "report_dir"},
        "tags": [tag, "compliance-scan"],
        "description": "Scan the fleet (installs nothing) and record compliance history",
    }
