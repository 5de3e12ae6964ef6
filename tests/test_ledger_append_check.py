"""The check before a reopened ledger's first append (each wave's task reopens the run's ledger):
it reads line by line and verifies checksums without decoding the records, yet repairs a torn or
garbled tail and refuses a damaged middle exactly as a full read does."""

from __future__ import annotations

from pathlib import Path

import pytest

from patchwave.state.ledger import Ledger, LedgerDamaged


def _ledger(path: Path, count: int) -> bytes:
    ledger = Ledger(path)
    for index in range(count):
        ledger.append("outcome", instance_id=f"i-{index}", outcome="patched")
    ledger.close()
    return path.read_bytes()


def test_an_append_after_a_torn_tail_sets_it_aside_first(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    whole = _ledger(path, 3)
    with path.open("ab") as handle:  # power loss mid-write
        handle.write(whole.splitlines(keepends=True)[1][:25] + b"\xff\xfe")
    ledger = Ledger(path)
    ledger.append("outcome", instance_id="i-3", outcome="patched")  # no read before it
    ledger.close()
    assert ledger.set_aside is not None and ledger.set_aside.read_bytes().endswith(b"\xff\xfe")
    assert [e["instance_id"] for e in Ledger(path).entries()] == ["i-0", "i-1", "i-2", "i-3"]


def test_an_append_after_a_wrong_checksum_at_the_tail_sets_that_line_aside(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    lines = _ledger(path, 2).splitlines(keepends=True)
    path.write_bytes(lines[0] + lines[1].replace(b"patched", b"failed_"))  # bit rot, still JSON
    ledger = Ledger(path)
    ledger.append("outcome", instance_id="i-9", outcome="patched")
    ledger.close()
    assert [e["instance_id"] for e in Ledger(path).entries()] == ["i-0", "i-9"]


def test_an_append_after_a_damaged_middle_line_is_refused_and_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    lines = _ledger(path, 4).splitlines(keepends=True)
    lines[1] = lines[1][:10] + b"\x80garbage\n"
    damaged = b"".join(lines)
    path.write_bytes(damaged)
    ledger = Ledger(path)
    for _ in range(2):  # refused again, not appended the second time
        with pytest.raises(LedgerDamaged, match=rf"{path}: line 2: damaged"):
            ledger.append("outcome", instance_id="i-4", outcome="patched")
    assert path.read_bytes() == damaged
