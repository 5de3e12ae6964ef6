"""Passing large values to tasks without Prefect walking them.

Prefect inspects every task argument (to find futures and record inputs); for a list of 10,000
instances that costs more than the patching logic. ``opaque`` wraps a value in Prefect's
``quote`` so it is passed as it is, typed as the value itself.
"""

from __future__ import annotations

from typing import TypeVar, cast

from prefect.utilities.annotations import quote

T = TypeVar("T")


def opaque(value: T) -> T:
    return cast(T, quote(value))
