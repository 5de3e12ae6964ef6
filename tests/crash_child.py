"""A ``patchwave run`` that SIGKILLs itself right after its k-th step (a fleet call or a
ledger write): the crash campaign's child process. Run as
``python -m tests.crash_child K STEPLOG -- <patchwave arguments>``; K = 0 never kills. Every
step is appended to STEPLOG (unbuffered) so the parent knows how many kill points a run has."""

from __future__ import annotations

import functools
import os
import signal
import sys
from collections.abc import Callable
from typing import Any

VERBS = (
    "send_patch_command",
    "find_command",
    "command_progress",
    "list_invocations",
    "cancel_command",
    "patch_states",
    "compliance",
    "ping_info",
    "reboot",
    "health",
    "list_instances",
    "service_memberships",
    "deregister_targets",
    "register_targets",
    "target_health",
    "enter_standby",
    "exit_standby",
    "send_hook_command",
    "find_hook_command",
)


def main() -> None:
    kill_at, log_path = int(sys.argv[1]), sys.argv[2]
    arguments = sys.argv[sys.argv.index("--") + 1 :]
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    steps = [0]
    world: list[Any] = []  # the simulated fleet: it outlives the run, clock included

    def step(name: str) -> None:
        steps[0] += 1
        os.write(log, f"{steps[0]} {name}\n".encode())
        if steps[0] == kill_at:
            if world:
                world[-1].save()  # a real fleet's time goes on when its orchestrator dies
            os.killpg(os.getpgid(0), signal.SIGKILL)  # the run and anything it started

    from patchwave.sim.fleet import SimulatedFleet
    from patchwave.state.ledger import Ledger

    def after(name: str, original: Callable[..., Any], label: Callable[..., str]) -> Callable[..., Any]:
        @functools.wraps(original)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            result = original(*args, **kwargs)
            if isinstance(args[0], SimulatedFleet) and not world:
                world.append(args[0])
            step(label(*args, **kwargs))
            return result

        return wrapper

    for verb in VERBS:
        setattr(
            SimulatedFleet,
            verb,
            after(verb, getattr(SimulatedFleet, verb), lambda *a, v=verb, **k: f"fleet {v}"),
        )
    Ledger.write = after(  # type: ignore[method-assign]
        "write", Ledger.write, lambda self, records, **k: "ledger " + ",".join(kind for kind, _ in records)
    )
    from patchwave.cli import app

    app(arguments)


if __name__ == "__main__":
    main()
