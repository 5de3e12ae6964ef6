"""The polling policy: the same share of wave time per poll whatever the wave's width."""

from __future__ import annotations

import datetime as dt
import math

from patchwave.window.polling import PollPolicy

NOW = dt.datetime(2026, 11, 29, 3, 0, tzinfo=dt.UTC)


def _policy(seen: list[float]) -> PollPolicy:
    policy = PollPolicy(wave_seconds_per_poll=0.5)
    for seconds in seen:
        policy.observe(seconds)
    return policy


def test_a_canary_and_a_wide_wave_poll_alike() -> None:
    policy = _policy([300.0, 480.0, 600.0])
    old = NOW - dt.timedelta(minutes=20)
    narrow = policy.interval(NOW, [(old, 10)])
    wide = policy.interval(NOW, [(old, 2000), (old, 1000)])
    assert narrow == wide == math.sqrt(2 * 0.5 * 480.0)


def test_young_instances_stretch_the_interval_and_nothing_finishing_sleeps_until_it_can() -> None:
    policy = _policy([300.0, 480.0, 600.0])
    old, young = NOW - dt.timedelta(minutes=20), NOW - dt.timedelta(seconds=60)
    all_old = policy.interval(NOW, [(old, 100)])
    half_young = policy.interval(NOW, [(old, 50), (young, 50)])
    assert half_young == all_old * math.sqrt(2)
    # nothing can finish before the shortest duration seen: sleep until the first might (bounded)
    assert policy.interval(NOW, [(NOW - dt.timedelta(seconds=270), 100)]) == 30.0
    assert policy.interval(NOW, [(young, 100)]) == policy.max_interval


def test_bounds_hold_before_anything_is_seen() -> None:
    policy = PollPolicy(wave_seconds_per_poll=100.0)
    assert policy.interval(NOW, [(NOW, 5)]) == policy.max_interval
    assert PollPolicy(wave_seconds_per_poll=0.001).interval(NOW, [(NOW, 5)]) == policy.min_interval
    assert policy.interval(NOW, []) == policy.min_interval
