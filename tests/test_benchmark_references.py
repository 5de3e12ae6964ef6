"""The benchmark's yardsticks and meters: Run Command's own rate control modelled as AWS
documents it, and memory and CPU measured where they are spent."""

from __future__ import annotations

import subprocess
import sys
import time

from benchmarks.measure import CpuMeter, TreeMemory
from benchmarks.references import ApiCost, ideal_makespan, run_command

FREE = ApiCost(latency_s=0.0)


def test_run_command_starts_each_target_when_a_slot_frees_and_the_user_polls_every_minute() -> None:
    wave = run_command([100.0, 200.0, 50.0], [False] * 3, 2, 0, dispatch_delay=5, poll_every=60, cost=FREE)
    # slot 1: 0-100, then the third target 105-155; slot 2: 0-200; seen done at the 240 s poll
    assert wave.seconds == 240
    assert wave.calls == {"SendCommand": 1, "ListCommands": 4, "ListCommandInvocations": 1}
    assert wave.started == 3 and not wave.halted


def test_run_command_stops_starting_once_errors_exceed_max_errors() -> None:
    work = [10.0, 10.0, 10.0, 10.0, 10.0]
    failed = [True, True, False, False, False]
    wave = run_command(work, failed, 1, 1, dispatch_delay=0, poll_every=1, cost=FREE)
    assert wave.halted and wave.started == 2  # the second error exceeds MaxErrors=1
    tolerant = run_command(work, failed, 1, 2, dispatch_delay=0, poll_every=1, cost=FREE)
    assert not tolerant.halted and tolerant.started == 5


def test_run_command_lists_invocations_in_pages_of_50_at_the_end() -> None:
    wave = run_command([1.0] * 120, [False] * 120, 120, 0, poll_every=60, cost=ApiCost(latency_s=0.5))
    assert wave.calls["ListCommandInvocations"] == 3
    assert wave.seconds == 60 + 3 * 0.5


def test_without_delays_run_command_is_the_ideal_window_without_verification() -> None:
    work = [30.0, 70.0, 20.0, 90.0, 10.0, 40.0]
    wave = run_command(work, [False] * 6, 3, 0, dispatch_delay=0, poll_every=1e-3, cost=FREE)
    assert abs(wave.seconds - ideal_makespan(work, [0.0] * 6, 3)) < 1e-2


def test_tree_memory_counts_a_child_process() -> None:
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import time; b = bytearray(200 * 2**20); b[::4096] = b'x' * len(b[::4096]); "
            "print('ready', flush=True); time.sleep(30)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        with TreeMemory(interval=0.05) as memory:
            time.sleep(0.2)
        assert memory.processes >= 2
        assert memory.peak_mb >= 200
    finally:
        child.kill()
        child.wait()


def test_cpu_meter_counts_nested_simulated_calls_once() -> None:
    class Backend:
        def inner(self) -> int:
            return sum(range(200_000))

        def outer(self) -> int:
            return self.inner() + self.inner()

    backend, meter = Backend(), CpuMeter()
    meter.wrap(backend, ["inner", "outer"])
    backend.outer()
    assert meter.calls == 1 and meter.seconds > 0
    backend.inner()
    assert meter.calls == 2
