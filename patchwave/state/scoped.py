"""Leases of one account-region in a store shared by many: the instance id alone is not a key
across accounts (simulated fleets reuse ids; on-premises ids are per account and region), so
each key is prefixed with ``ACCOUNT/REGION/``. Holders come back as they are (run ids)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from patchwave.state.holder import RunHolder
from patchwave.state.leases import Leases


class ScopedLeases:
    def __init__(self, inner: Leases, scope: str) -> None:
        self.inner = inner
        self.scope = scope.rstrip("/") + "/"
        self.stale_after = inner.stale_after

    def heartbeat(self, run_id: str, now: dt.datetime) -> None:
        self.inner.heartbeat(run_id, now)

    def _keys(self, instance_ids: Sequence[str]) -> list[str]:
        return [self.scope + iid for iid in instance_ids]

    def _back(self, found: dict[str, str]) -> dict[str, str]:
        return {key.removeprefix(self.scope): holder for key, holder in found.items()}

    def acquire(
        self, run_id: str, instance_ids: Sequence[str], now: dt.datetime, until: dt.datetime
    ) -> dict[str, str]:
        return self._back(self.inner.acquire(run_id, self._keys(instance_ids), now, until))

    def release(self, run_id: str, instance_ids: Sequence[str]) -> None:
        self.inner.release(run_id, self._keys(instance_ids))

    def holders(self, instance_ids: Sequence[str], now: dt.datetime) -> dict[str, str]:
        return self._back(self.inner.holders(self._keys(instance_ids), now))

    # a run is one process's whatever its account-region: claims are not scoped
    def claim_run(self, run_id: str, holder: str, now: dt.datetime) -> RunHolder | None:
        return self.inner.claim_run(run_id, holder, now)

    def beat_run(self, run_id: str, holder: str, now: dt.datetime) -> bool:
        return self.inner.beat_run(run_id, holder, now)

    def release_claim(self, run_id: str, holder: str) -> None:
        self.inner.release_claim(run_id, holder)

    def run_holder(self, run_id: str) -> RunHolder | None:
        return self.inner.run_holder(run_id)
