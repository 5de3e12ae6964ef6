"""``rollouts.yaml`` (optional): rollouts as ordered rings of windows with a bake and a gate.

Each ring runs one window of ``windows.yaml``; after a ring, the rollout waits ``bake_minutes``
and checks the gate before the next ring. A ring naming an unknown window is refused at load
time, in one line, so that a rollout never starts half-defined.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from patchwave.config.baselines import Strict, first_repeated
from patchwave.config.loader import load_model
from patchwave.errors import ConfigError


class Ring(Strict):
    """One ring: a window, how long to bake after it, and the gate to pass before the next."""

    window: str = Field(min_length=1)
    bake_minutes: int = Field(default=0, ge=0, le=60 * 24 * 30)
    min_success_rate: float = Field(default=1.0, ge=0.0, le=1.0)
    allow_failed_verification: bool = False


class Rollout(Strict):
    """A named rollout: rings in order; ring 1 decides the patch set the others install."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
    rings: list[Ring] = Field(min_length=1)
    pause_hours: float = Field(
        default=24.0,
        ge=0,
        le=24 * 30,
        description="A ring that fails its gate inside a flow run pauses it this long for a typed "
        "promote/abort (0: fail at once; then promote or abort with the CLI).",
    )


class RolloutsFile(Strict):
    """``config/rollouts.yaml``."""

    rollouts: list[Rollout] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> RolloutsFile:
        repeated = first_repeated(rollout.name for rollout in self.rollouts)
        if repeated is not None:
            raise ValueError(f"rollout {repeated!r} is defined twice")
        return self

    def get(self, name: str) -> Rollout | None:
        return next((r for r in self.rollouts if r.name == name), None)


def load_rollouts(config_dir: Path | str, window_names: set[str] | frozenset[str]) -> RolloutsFile:
    """``<config_dir>/rollouts.yaml`` when present (else none); rings naming unknown windows refused."""
    path = Path(config_dir) / "rollouts.yaml"
    if not path.exists():
        return RolloutsFile()
    loaded = load_model(RolloutsFile, path)
    for r, rollout in enumerate(loaded.rollouts):
        for i, ring in enumerate(rollout.rings):
            if ring.window not in window_names:
                raise ConfigError(
                    str(path),
                    f"rollouts[{r}].rings[{i}].window",
                    ring.window,
                    "no such window in windows.yaml",
                )
    return loaded
