"""Tracking AWS-RunPatchBaseline commands with as few API calls as the answers allow.

One poll reads the counters of the commands still executing (ListCommands filtered to the
executing stage: its pages follow the commands running, not every command sent since the
oldest). A command's invocations are listed (one call per 50 instances) only when it has left
the executing stage, or when one of its instances has passed its deadline, or when the caller
needs each completion at once (``eager``). Completed counts alone are enough to free concurrency
slots and to count errors, so most of a wave is steered by the cheap counters.

A SendCommand naming one id that is no longer a managed node (terminated) is refused whole
(InvalidInstanceId): nothing started, so the tracker finds the ids that vanished (absent from
DescribeInstanceInformation), sends to the rest, and hands the vanished ones to the caller.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from patchwave.clock import Clock
from patchwave.fleet import Fleet, InstancesNotFound, Invocation, PatchCommand, chunks
from patchwave.window.outcomes import counts_as_error


def new_token() -> str:
    """A command's unique token: in its Comment and in the ledger's intent line."""
    return uuid.uuid4().hex[:16]


SEND_ISOLATION_ROUNDS = 3  # re-sends after a refusal (each after finding what vanished)


@dataclass
class TrackedCommand:
    command_id: str
    operation: str
    members: tuple[str, ...]
    sent_at: dt.datetime
    deadline: dt.datetime
    completed: int = 0
    errors: int = 0
    finished: dict[str, Invocation] = field(default_factory=dict)
    abandoned: set[str] = field(default_factory=set)  # given up on by the caller (cancelled)
    deadline_checked: bool = False
    done: bool = False
    token: str = ""  # the unique token of its Comment, as the ledger's intent has it

    @property
    def in_flight(self) -> int:
        """Instances still holding a slot, by the fleet's own count (conservative)."""
        return len(self.members) - self.completed


@dataclass
class PollResult:
    finished: list[tuple[TrackedCommand, Invocation]] = field(default_factory=list)
    overdue: list[tuple[TrackedCommand, str]] = field(default_factory=list)
    completions: list[tuple[TrackedCommand, int]] = field(default_factory=list)

    @property
    def new_completions(self) -> int:
        return sum(count for _, count in self.completions)


def vanished(fleet: Fleet, instance_ids: Sequence[str], exc: InstancesNotFound) -> set[str]:
    """Which of a refused request's ids left: those the error names, and those Systems Manager
    no longer lists (DescribeInstanceInformation). Empty when every id is still managed."""
    info = fleet.ping_info(instance_ids)
    return {i for i in instance_ids if i not in info} | (set(exc.instance_ids) & set(instance_ids))


class CommandTracker:
    def __init__(self, fleet: Fleet, clock: Clock, eager: frozenset[str] = frozenset()) -> None:
        self.fleet = fleet
        self.clock = clock
        self.eager = eager  # operations whose every completion is listed at once
        self.active: dict[str, TrackedCommand] = {}
        self.all: list[TrackedCommand] = []
        self._retired: list[TrackedCommand] = []
        self.refused: dict[str, str] = {}  # instance id -> why no command could be sent to it
        # written to the ledger (and fsynced) before the commands it is given are sent
        self.intend: Callable[[list[PatchCommand], dt.datetime], None] = lambda commands, deadline: None
        # by operation: settles commands that left the executing stage without listing their
        # invocations, or leaves them out to be listed (verification: window/scan_reports.py)
        self.settle: dict[str, Callable[[list[TrackedCommand]], dict[str, list[Invocation]]]] = {}

    def drain_refused(self) -> dict[str, str]:
        """Instances a send left out because they are no longer managed (each returned once)."""
        refused, self.refused = self.refused, {}
        return refused

    def send(
        self,
        instance_ids: Sequence[str],
        *,
        operation: str,
        reboot_option: str,
        snapshot_id: str,
        run_id: str,
        deadline: dt.datetime,
        install_override: Sequence[str] = (),
        timeout_seconds: int = 600,
        alarm: str = "",
    ) -> list[TrackedCommand]:
        sent: list[TrackedCommand] = []
        commands = [
            PatchCommand(
                instance_ids=tuple(chunk),
                operation=operation,  # type: ignore[arg-type]
                reboot_option=reboot_option,  # type: ignore[arg-type]
                snapshot_id=snapshot_id,
                run_id=run_id,
                install_override=tuple(install_override),
                timeout_seconds=timeout_seconds,
                token=new_token(),
                alarm=alarm,
            )
            for chunk in chunks(list(instance_ids))
        ]
        self.intend(commands, deadline)  # one durable write for the batch, before any send
        for command in commands:
            sent_at = self.clock.now()
            outcome = self._send_isolating(command, deadline)
            if outcome is None:
                continue
            command_id, members, token = outcome
            tracked = TrackedCommand(command_id, operation, members, sent_at, deadline, token=token)
            self.active[command_id] = tracked
            self.all.append(tracked)
            sent.append(tracked)
        return sent

    def _send_isolating(
        self, command: PatchCommand, deadline: dt.datetime
    ) -> tuple[str, tuple[str, ...], str] | None:
        """Send; when refused for an unknown id, leave out the ids no longer managed and send
        the rest (the refused request started nothing). Returns the command id and the ids it
        went to, or None when none was left to send to."""
        for _ in range(SEND_ISOLATION_ROUNDS + 1):
            try:
                command_id = self.fleet.send_patch_command(command)
            except InstancesNotFound as exc:
                remaining = self._isolate(command.instance_ids, exc)
                if not remaining:
                    return None
                command = dataclasses.replace(command, instance_ids=tuple(remaining), token=new_token())
                self.intend([command], deadline)  # a new request: its own intent first
                continue
            return command_id, command.instance_ids, command.token
        for iid in command.instance_ids:
            self.refused[iid] = "SendCommand kept refusing the request (InvalidInstanceId)"
        return None

    def _isolate(self, instance_ids: Sequence[str], exc: InstancesNotFound) -> list[str]:
        gone = vanished(self.fleet, instance_ids, exc)
        why = (
            f"no longer a managed node when its command was sent ({exc.operation} refused it: "
            "terminated or deregistered)"
        )
        if not gone:  # refused, yet every id is managed: do not guess, send none of them
            gone = set(instance_ids)
            why = f"{exc}; every id was still managed, so none was sent"
        for iid in gone:
            self.refused[iid] = why
        return [i for i in instance_ids if i not in gone]

    def adopt(
        self,
        command_id: str,
        operation: str,
        members: tuple[str, ...],
        sent_at: dt.datetime,
        deadline: dt.datetime,
        done: set[str],
        token: str = "",
    ) -> None:
        """Track a command sent by an earlier process (a resumed run): poll it, never re-send."""
        tracked = TrackedCommand(command_id, operation, members, sent_at, deadline, token=token)
        tracked.abandoned.update(done)  # already decided: not waited for again
        self.active[command_id] = tracked
        self.all.append(tracked)

    def verifying(self, instance_id: str) -> bool:
        """Whether an active verification scan covers this instance."""
        return any(t.operation == "Scan" and instance_id in t.members for t in self.active.values())

    def poll(self) -> PollResult:
        """Read counters; list what completed or is overdue; report what finished."""
        result = PollResult()
        if not self.active:
            return result
        progress = self.fleet.command_progress(list(self.active))
        now = self.clock.now()
        known_by_reads = self._settled([t for c, t in self.active.items() if c not in progress])
        for command_id, tracked in list(self.active.items()):
            state = progress.get(command_id)
            if state is None:
                # no longer executing: its invocations say how each instance ended
                known = known_by_reads.get(command_id)
                if known is None:
                    self._list(tracked, result, now)
                else:
                    self._take(tracked, known, result, now)
                settled = set(tracked.finished) | tracked.abandoned
                grew = len(settled) - tracked.completed
                tracked.completed = len(settled)
                tracked.errors = sum(
                    counts_as_error(i.status, i.status_details) for i in tracked.finished.values()
                )
                if grew > 0:
                    result.completions.append((tracked, grew))
                if settled >= set(tracked.members):
                    self._retire(tracked)
                continue
            grew = state.completed_count - tracked.completed
            tracked.completed, tracked.errors = state.completed_count, state.error_count
            if grew > 0:
                result.completions.append((tracked, grew))
            overdue = now >= tracked.deadline and not tracked.deadline_checked
            if overdue or (tracked.operation in self.eager and grew > 0):
                self._list(tracked, result, now)
        return result

    def _settled(self, left: list[TrackedCommand]) -> dict[str, list[Invocation]]:
        found: dict[str, list[Invocation]] = {}
        for operation, settle in self.settle.items():
            mine = [t for t in left if t.operation == operation]
            if mine:
                found.update(settle(mine))
        return found

    def _list(self, tracked: TrackedCommand, result: PollResult, now: dt.datetime) -> None:
        self._take(tracked, self.fleet.list_invocations(tracked.command_id), result, now)

    def _take(
        self, tracked: TrackedCommand, invocations: Sequence[Invocation], result: PollResult, now: dt.datetime
    ) -> None:
        for invocation in invocations:
            iid = invocation.instance_id
            if iid in tracked.finished or iid in tracked.abandoned:
                continue
            if invocation.finished:
                tracked.finished[iid] = invocation
                result.finished.append((tracked, invocation))
            elif now >= tracked.deadline:
                result.overdue.append((tracked, iid))
        if now >= tracked.deadline:
            tracked.deadline_checked = True

    def abandon(self, tracked: TrackedCommand, instance_ids: Sequence[str]) -> None:
        """Give up on instances past their deadline: cancel them, stop waiting for them."""
        wanted = [i for i in instance_ids if i not in tracked.finished]
        if wanted:
            self.fleet.cancel_command(tracked.command_id, wanted)
            tracked.abandoned.update(wanted)
        if set(tracked.members) <= set(tracked.finished) | tracked.abandoned:
            self._retire(tracked)

    def _retire(self, tracked: TrackedCommand) -> None:
        if not tracked.done:
            tracked.done = True
            self.active.pop(tracked.command_id, None)
            self._retired.append(tracked)

    def drain_retired(self) -> list[TrackedCommand]:
        """Commands retired since the last call (each returned once)."""
        retired, self._retired = self._retired, []
        return retired

    def slots_in_use(self, operation: str | None = None) -> int:
        return sum(t.in_flight for t in self.active.values() if operation is None or t.operation == operation)

    def in_flight(self, operation: str | None = None) -> list[tuple[dt.datetime, int]]:
        """(sent at, instances still running) of each active command."""
        return [
            (t.sent_at, t.in_flight)
            for t in self.active.values()
            if t.in_flight > 0 and (operation is None or t.operation == operation)
        ]

    def next_deadline(self) -> dt.datetime | None:
        pending = [t.deadline for t in self.active.values() if not t.deadline_checked]
        return min(pending) if pending else None
