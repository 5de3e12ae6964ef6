"""A wave's task run state: Failed with its stop reason when it halted, the result inside."""

from __future__ import annotations

from dataclasses import dataclass

from prefect.states import Failed, State

from patchwave.window.runner import WaveResult


@dataclass(repr=False)
class StoppedWave:
    """A halted wave's result carried in its Failed state (Prefect logs the state's repr:
    a short one, not thousands of instance results)."""

    result: WaveResult

    def __repr__(self) -> str:
        return f"<wave {self.result.name} {self.result.status}>"


def wave_message(result: WaveResult) -> str:
    counts = ", ".join(f"{k} {v}" for k, v in sorted(result.counts.items()))
    return f"wave {result.name} {result.status}: {result.stop_reason or result.status} ({counts})"


def wave_state(result: WaveResult) -> State | WaveResult:
    """A halted or cut-off wave's task run ends Failed with its reason; the result rides along."""
    if result.status in ("halted", "cut_off"):
        return Failed(message=wave_message(result), data=StoppedWave(result))
    return result


def wave_result(state: State) -> WaveResult:
    """The wave's result from its task state, Failed (halted) or not; a real crash re-raises."""
    value = state.result(raise_on_failure=False)
    if isinstance(value, StoppedWave):
        return value.result
    if isinstance(value, BaseException):
        raise value
    assert isinstance(value, WaveResult), type(value)
    return value
