"""A Prefect API server beside the benchmark, as a deployment has one: a child process the
flow talks to over HTTP (PREFECT_API_URL), so the flow process does not load the server's code.

Started the way Prefect starts its own temporary server (uvicorn, the UI off, the services a
temporary server runs), on a free local port, with the benchmark's PREFECT_HOME. Being a child,
its memory and CPU are measured with the flow's.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

STARTUP_TIMEOUT = 180.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as response:  # noqa: S310 - localhost
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


@contextlib.contextmanager
def prefect_server(home: str) -> Iterator[str]:
    """Start the server, set PREFECT_API_URL for this process, yield the URL; stop it after."""
    # find Prefect without importing it: its settings are read once, at import, and must see
    # PREFECT_API_URL
    spec = importlib.util.find_spec("prefect")
    assert spec is not None and spec.origin is not None
    packages = Path(spec.origin).parent.parent
    port = _free_port()
    url = f"http://127.0.0.1:{port}/api"
    env = {
        **os.environ,
        "PREFECT_HOME": home,
        "PREFECT_UI_ENABLED": "0",
        "PREFECT__SERVER_EPHEMERAL": "1",
        "PREFECT__SERVER_FINAL": "1",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    env.pop("PREFECT_API_URL", None)
    command = [sys.executable, "-m", "uvicorn", "--app-dir", str(packages)]
    command += ["--factory", "prefect.server.api.server:create_app", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--log-level", "error", "--lifespan", "on"]
    server = subprocess.Popen(command, env=env)
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not _healthy(url):
            if server.poll() is not None:
                raise RuntimeError(f"the Prefect server exited with {server.returncode} before it answered")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the Prefect server did not answer {url}/health in time")
            time.sleep(0.5)
        if "prefect.settings" in sys.modules:
            raise RuntimeError("Prefect was imported before its server was started: it would not use it")
        os.environ["PREFECT_API_URL"] = url
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
