"""``history.yaml``: where compliance history is kept, for how long, and the patch SLA policy.

The file is optional: without it history goes to SQLite under the patchwave home
(``$PATCHWAVE_HOME``, else ``~/.patchwave``), is kept 400 days, and the SLA policy is
CRITICAL 7 days, HIGH 30, MEDIUM 90 from a patch's release.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field, field_validator

from patchwave.config.baselines import COMPLIANCE_LEVELS, Strict
from patchwave.config.loader import load_model
from patchwave.config.windows import Schedule


def patchwave_home() -> Path:
    return Path(os.environ.get("PATCHWAVE_HOME") or Path.home() / ".patchwave")


class StoreSettings(Strict):
    url: str | None = Field(
        default=None,
        description="SQLAlchemy URL (sqlite:///PATH or postgresql+psycopg://USER@HOST/DB); "
        "empty: SQLite at $PATCHWAVE_HOME/history.db.",
    )
    retention_days: int = Field(
        default=400, ge=1, le=36500, description="Runs older than this are forgotten."
    )

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, value: str | None) -> str | None:
        if value and not value.startswith(("sqlite:///", "postgresql://", "postgresql+psycopg://")):
            raise ValueError("expected sqlite:///PATH or postgresql+psycopg://USER@HOST/DB")
        return value

    def resolved_url(self) -> str:
        return self.url or f"sqlite:///{patchwave_home() / 'history.db'}"


class HistorySettings(Strict):
    enabled: bool = Field(default=True, description="Record every scan and window.")
    store: StoreSettings = Field(default_factory=StoreSettings)
    compliance_scan: Schedule | None = Field(
        default_factory=lambda: Schedule(cron="0 6 * * *", timezone="UTC"),
        description="When the compliance-scan deployment scans the fleet (null: no schedule).",
    )
    sla_days: dict[str, int] = Field(
        default_factory=lambda: {"CRITICAL": 7, "HIGH": 30, "MEDIUM": 90},
        description="Days from a patch's release within which it must be installed, by severity.",
    )

    @field_validator("sla_days")
    @classmethod
    def _levels(cls, value: dict[str, int]) -> dict[str, int]:
        for level, days in value.items():
            if level not in COMPLIANCE_LEVELS:
                raise ValueError(f"unknown severity {level!r} (one of {', '.join(COMPLIANCE_LEVELS)})")
            if not 0 <= days <= 3650:
                raise ValueError(f"{level}: days must be between 0 and 3650")
        return value


def load_history_settings(config_dir: Path | str) -> HistorySettings:
    """``<config_dir>/history.yaml`` when present, else the defaults."""
    path = Path(config_dir) / "history.yaml"
    return load_model(HistorySettings, path) if path.exists() else HistorySettings()
