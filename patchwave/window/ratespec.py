"""Run Command's rate-control numbers: "N" or "N%" of a wave's targets.

Rounding rules (documented in docs/architecture.md and tested):
- concurrency "P%" of n targets = ceil(P * n / 100), at least 1: a wave always makes progress;
- errors "P%" of n targets = floor(P * n / 100): the number of errors tolerated; the window
  stops starting instances at the first error beyond it (10% of 50 -> 5 tolerated, the 6th
  error halts). "0" halts at the first error.
"""

from __future__ import annotations

import math
import re

_RATE = re.compile(r"^(?P<num>\d{1,9})(?P<pct>%?)$")


def parse_rate(text: str) -> tuple[int, bool]:
    """Return (number, is_percent) or raise ValueError with a reason a person can read."""
    match = _RATE.match(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise ValueError('must be a whole number "N" or a percentage "N%"')
    number = int(match["num"])
    is_percent = bool(match["pct"])
    if is_percent and number > 100:
        raise ValueError("a percentage cannot exceed 100%")
    return number, is_percent


def concurrency_for(spec: str, targets: int) -> int:
    """How many instances of a wave may run at once."""
    number, is_percent = parse_rate(spec)
    if is_percent:
        number = math.ceil(number * targets / 100)
    return max(1, min(number, max(targets, 1)))


def errors_tolerated(spec: str, targets: int) -> int:
    """How many errors a wave tolerates; one more halts it."""
    number, is_percent = parse_rate(spec)
    if is_percent:
        return (number * targets) // 100
    return number
