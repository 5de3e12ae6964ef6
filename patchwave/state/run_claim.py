"""One process per run: a run is claimed, with this process's holder token, in the lease store
before anything of it starts, and kept alive by a heartbeat thread until it ends.

A second process of the same run id (``--resume`` of a run whose process still runs, or a
worker picking up a run another worker still drives) is refused while the holder's heartbeat
is fresh (``RunInUse``, one line), and takes the run over once it is stale (the holder died)
or after ``patchwave leases release --run ID``. The heartbeat is real time (a thread beating
every quarter of the staleness), so a SIGKILLed holder goes stale whatever the fleet's clock.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from patchwave.state.holder import RunInUse, held_elsewhere, holder_token, wall_now
from patchwave.state.leases import Leases

_lock = threading.Lock()
_held: dict[tuple[int, str], tuple[int, threading.Event]] = {}  # (store, run) -> (count, stop)


def check_run_free(leases: Leases, run_id: str) -> None:
    """Refuse (RunInUse) when another live process holds the run; takes nothing."""
    held = leases.run_holder(run_id)
    if held is not None and held_elsewhere(held, leases.stale_after):
        raise RunInUse(held, wall_now(), leases.stale_after)


def _beat(leases: Leases, run_id: str, stop: threading.Event) -> None:
    period = max(leases.stale_after.total_seconds() / 4, 0.05)
    while not stop.wait(period):
        try:
            leases.beat_run(run_id, holder_token(), wall_now())
        except Exception:  # noqa: BLE001 - a missed beat is retried; the run goes on
            continue


@contextmanager
def hold_run(leases: Leases, run_id: str) -> Iterator[None]:
    """Claim the run for this process (or raise RunInUse) and keep it alive while inside."""
    key = (id(leases), run_id)
    with _lock:
        count, stop = _held.get(key, (0, threading.Event()))
        if count == 0:
            now = wall_now()
            held = leases.claim_run(run_id, holder_token(), now)
            if held is not None:
                raise RunInUse(held, now, leases.stale_after)
            threading.Thread(target=_beat, args=(leases, run_id, stop), daemon=True).start()
        _held[key] = (count + 1, stop)
    try:
        yield
    finally:
        with _lock:
            count, stop = _held.pop(key)
            if count > 1:
                _held[key] = (count - 1, stop)
            else:
                stop.set()
                leases.release_claim(run_id, holder_token())
