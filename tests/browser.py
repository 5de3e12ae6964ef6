"""Headless Chromium from Debian's packages, for tests that look at pages as a person would.

Installed by the test set-up when missing (apt-get, as root); a machine where it cannot be
installed skips those tests with the reason. The flags are the ones this machine needs: no
sandbox as root, no background networking (the network is closed), a fresh profile each time.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]


def find_or_install_chromium() -> str:
    found = shutil.which("chromium")
    if found:
        return found
    if shutil.which("apt-get") is None:
        pytest.skip("no chromium, and no apt-get to install Debian's chromium package")
    try:
        subprocess.run(["apt-get", "update", "-qq"], check=True, capture_output=True, timeout=600)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "chromium"],
            check=True,
            capture_output=True,
            timeout=900,
            env={"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
        )
    except (subprocess.SubprocessError, OSError) as exc:
        pytest.skip(f"Debian's chromium could not be installed here: {exc}")
    return shutil.which("chromium") or pytest.skip("chromium installed but not on PATH")


class Browser:
    def __init__(self, binary: str, profile: Path) -> None:
        self.binary = binary
        self.profile = profile

    def _run(self, url: str, *extra: str, wait_ms: int) -> str:
        result = subprocess.run(
            [
                self.binary,
                *FLAGS,
                f"--user-data-dir={self.profile}",
                f"--virtual-time-budget={wait_ms}",
                "--window-size=1400,1000",
                *extra,
                url,
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        return result.stdout

    def dom(self, url: str, wait_ms: int = 15000) -> str:
        """The page's DOM after its scripts ran (what a person sees, as text and markup)."""
        return self._run(url, "--dump-dom", wait_ms=wait_ms)

    def screenshot(self, url: str, path: Path, wait_ms: int = 15000) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._run(url, f"--screenshot={path}", wait_ms=wait_ms)
        assert path.exists() and path.stat().st_size > 5000, f"no screenshot of {url}"
