"""A simulated fleet behind an HTTP endpoint that speaks Systems Manager's JSON protocol: the
fleet two workers (two processes, two "machines") patch at once, as they would a real account.

Run: ``python -m tests.fleet_server CONFIG_DIR FLEET_SPEC PORT``. Workers point
``AWS_ENDPOINT_URL_SSM`` here (everything else goes to moto). The simulator runs on real time
(its clock starts now, speed 1), so the spec's durations should be fractions of a minute.
``GET /evidence`` returns what happened to the fleet: every command sent, the overlaps the
simulator saw (two operations on one instance at once), and Install starts per instance.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from patchwave.clock import ScaledClock
from patchwave.config import load_config
from patchwave.sim import load_spec
from patchwave.sim.fleet import SimulatedFleet

try:  # where the emulator lives once it moved into the package
    from patchwave.sim.emulator import Emulator  # type: ignore[import-not-found]
except ImportError:
    from tests.aws_emulator import Emulator


def _json(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.timestamp()
    raise TypeError(type(value).__name__)


def serve(config_dir: str, spec_path: str, port: int) -> None:
    spec = load_spec(spec_path)
    start = dt.datetime.now(dt.UTC)
    spec = spec.model_copy(update={"start": start})
    fleet = SimulatedFleet(spec, load_config(config_dir).baselines, ScaledClock(start, 1.0))
    emulator = Emulator(fleet)
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_: Any) -> None:  # quiet
            return

        def _send(self, status: int, body: Any) -> None:
            data = json.dumps(body, default=_json).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/x-amz-json-1.1")
            self.send_header("x-amzn-RequestId", "fleet-server")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            operation = self.headers.get("X-Amz-Target", "").split(".")[-1]
            params = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
            handler = getattr(emulator, f"_{operation}", None)
            if handler is None:
                self._send(400, {"__type": "UnknownOperationException", "message": operation})
                return
            try:
                with lock:
                    answer = handler(params)
            except Exception as exc:  # noqa: BLE001 - returned to the caller as AWS would
                code = getattr(exc, "code", None) or "InternalServerError"  # the emulator's AwsError
                status = getattr(exc, "status", 500 if code == "InternalServerError" else 400)
                self._send(status, {"__type": code, "message": str(exc)})
                return
            self._send(200, answer)

        def do_GET(self) -> None:  # noqa: N802
            with lock:
                installs: dict[str, int] = {}
                for sent in fleet.sent:
                    if sent.operation == "Install":
                        for iid in sent.instance_ids:
                            installs[iid] = installs.get(iid, 0) + 1
                evidence = {
                    "sent": [
                        {"operation": c.operation, "instance_ids": list(c.instance_ids)} for c in fleet.sent
                    ],
                    "overlaps": [[iid, at.isoformat()] for iid, at in fleet.overlaps],
                    "installs": installs,
                }
            self._send(200, evidence)

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    serve(sys.argv[1], sys.argv[2], int(sys.argv[3]))
