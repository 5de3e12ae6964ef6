"""Two processes never append to one run's ledger at once: the file ledger is locked by its
writing process (a second process is refused in one line; the kernel frees the lock when the
first is SIGKILLed), and an S3 ledger object taken by another process's writer of the same run
is refused rather than interleaved (moto over HTTP, the other writer a real child process)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from patchwave.aws.s3_state import S3Ledger
from patchwave.state.ledger import Ledger
from patchwave.state.ledger_lock import LedgerInUse
from tests import moto_server
from tests.moto_server import clients, make_bucket

ROOT = Path(__file__).resolve().parent.parent
moto_url, moto_env = moto_server.moto_url, moto_server.moto_env  # the fixtures

HOLDER = """
import sys, time
from pathlib import Path
from patchwave.state.ledger import Ledger
ledger = Ledger(Path(sys.argv[1]))
ledger.append("start", window="w")
print("written", flush=True)
time.sleep(300)
"""


def test_a_second_process_is_refused_the_file_ledger_until_the_first_dies(tmp_path: Path) -> None:
    path = tmp_path / ".runs" / "run-1.jsonl"
    child = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path)], cwd=ROOT, stdout=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "written"
        ours = Ledger(path)
        with pytest.raises(LedgerInUse) as refused:
            ours.append("outcome", instance_id="i-1")
        assert "\n" not in str(refused.value) and f"pid {child.pid}" in str(refused.value)
        assert [e["kind"] for e in ours.entries()] == ["start"]  # nothing of ours appended
    finally:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    ours.append("outcome", instance_id="i-1")  # the kernel dropped the dead writer's lock
    assert [e["kind"] for e in Ledger(path).entries()] == ["start", "outcome"]


WRITER = """
import sys
from patchwave.aws.s3_state import S3Ledger
from tests.moto_server import clients
S3Ledger(clients().s3, sys.argv[1]).append("intents", commands=[])
"""


def test_another_process_writing_the_s3_ledger_is_refused_not_interleaved(
    moto_env: str, moto_url: str, tmp_path: Path
) -> None:
    bucket = f"pw-writers-{tmp_path.name[-16:].lower()}".replace("_", "-")
    make_bucket(bucket)
    url = f"s3://{bucket}/patchwave/state/runs/run-2"
    ours = S3Ledger(clients().s3, url)
    ours.append("start", window="w")  # object 0, ours
    env = {**os.environ, "AWS_ENDPOINT_URL": moto_url}
    done = subprocess.run([sys.executable, "-c", WRITER, url], cwd=ROOT, env=env, timeout=120)
    assert done.returncode == 0  # object 1: the other process's
    with pytest.raises(LedgerInUse) as refused:
        ours.append("intents", commands=[])  # our next number is taken, by another process
    assert "another process" in str(refused.value) and "\n" not in str(refused.value)
    kinds = [e["kind"] for e in S3Ledger(clients().s3, url).entries()]
    assert kinds == ["start", "intents"]  # the other's line, and none of ours after it
