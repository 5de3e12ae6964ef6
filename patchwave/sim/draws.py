"""Deterministic randomness: every draw is keyed by (seed, instance, purpose, attempt), so the
simulation does not depend on the order in which calls arrive."""

from __future__ import annotations

import hashlib
import math
import random

from patchwave.sim.spec import Duration

_Z99 = 2.3263478740408408  # the standard normal's 99th percentile


def rng(seed: int, *parts: object) -> random.Random:
    return random.Random("|".join([str(seed), *map(str, parts)]))


def chance(seed: int, rate: float, *parts: object) -> bool:
    return rate > 0 and rng(seed, *parts).random() < rate


def lognormal_seconds(seed: int, duration: Duration, *parts: object) -> float:
    """A lognormal draw with the given median and p99, in seconds."""
    sigma = math.log(duration.p99 / duration.median) / _Z99
    value = rng(seed, *parts).lognormvariate(math.log(duration.median), sigma)
    return value * 60.0


def instance_id(seed: int, group: str, index: int, on_premises: bool) -> str:
    digest = hashlib.sha256(f"{seed}:{group}:{index}".encode()).hexdigest()
    return ("mi-" if on_premises else "i-") + digest[:17]
