"""The run claim of each lease store: another holder is refused while the first beats, takes
over once it is stale, and the one that lost it can neither beat nor free it. (The real-process
story, a resume of a live run, is ``tests/live_holder.py``, run by test_crash_campaign.py.)"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from patchwave.state.leases import Leases, MemoryLeases
from patchwave.state.sqlite_leases import SqliteLeases


@pytest.mark.parametrize("store", ["memory", "sqlite"])
def test_a_claim_is_refused_to_another_holder_until_stale(store: str, tmp_path: Path) -> None:
    stale = dt.timedelta(seconds=30)
    leases: Leases = MemoryLeases(stale) if store == "memory" else SqliteLeases(tmp_path / "l.sqlite", stale)
    now = dt.datetime(2026, 11, 29, 3, 0, tzinfo=dt.UTC)
    assert leases.claim_run("r1", "host:1:aa", now) is None
    held = leases.claim_run("r1", "host:2:bb", now + dt.timedelta(seconds=10))
    assert held is not None and held.holder == "host:1:aa"
    assert leases.beat_run("r1", "host:1:aa", now + dt.timedelta(seconds=20))
    assert leases.claim_run("r1", "host:2:bb", now + dt.timedelta(seconds=45)) is not None  # beaten at 20
    assert leases.claim_run("r1", "host:2:bb", now + dt.timedelta(seconds=51)) is None  # stale: taken over
    assert not leases.beat_run("r1", "host:1:aa", now + dt.timedelta(seconds=52))  # the old one lost it
    leases.release_claim("r1", "host:1:aa")  # not its own any more: nothing freed
    assert leases.run_holder("r1") is not None
    leases.release_claim("r1", "host:2:bb")
    assert leases.run_holder("r1") is None
