"""Configuration as code: baselines, windows, and how they are loaded and validated."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from patchwave.config.aws import AwsSettings
from patchwave.config.baselines import Baseline, BaselinesFile
from patchwave.config.loader import load_model
from patchwave.config.windows import Window, WindowsFile
from patchwave.errors import ConfigError

__all__ = ["AwsSettings", "Baseline", "BaselinesFile", "Config", "Window", "WindowsFile", "load_config"]


@dataclass(frozen=True)
class Config:
    """Everything read from a config folder, with where it came from."""

    directory: Path
    baselines: BaselinesFile
    windows: WindowsFile
    aws: AwsSettings

    def window(self, name: str) -> Window:
        try:
            return self.windows.get(name)
        except KeyError:
            known = ", ".join(w.name for w in self.windows.windows) or "none"
            raise ConfigError(
                str(self.directory / "windows.yaml"),
                "windows[].name",
                name,
                f"no such window (known: {known})",
            ) from None


def load_config(directory: Path | str = "config") -> Config:
    """Load and validate ``baselines.yaml`` and ``windows.yaml`` from a folder."""
    folder = Path(directory)
    if not folder.is_dir():
        raise ConfigError(str(folder), "--config", str(folder), "not a folder")
    baselines = load_model(BaselinesFile, folder / "baselines.yaml")
    windows = load_model(WindowsFile, folder / "windows.yaml")
    aws_file = folder / "aws.yaml"
    aws = load_model(AwsSettings, aws_file) if aws_file.exists() else AwsSettings()
    return Config(folder, baselines, windows, aws)
