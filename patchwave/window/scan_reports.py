"""Verification scans settled by their reports: patch states first, invocations where needed.

What a verification Scan is for is its report: DescribeInstancePatchStates with Operation Scan,
this run's snapshot and an OperationEndTime after the command was sent (AWS-RunPatchBaseline
uploads it as the scan's last step). When a Scan command has left the executing stage the runner
reads its members' patch states anyway, to verify them. Read first, they settle every member
that reported, and ListCommandInvocations is needed only for a command with a member that did
not (its scan failed, was undeliverable or timed out, or its report is late: the invocation says
which). So a verification costs one DescribeInstancePatchStates per 50 instances instead of
that plus one ListCommandInvocations per command.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from patchwave.fleet import Fleet, InstancePatchState, Invocation
from patchwave.window.commands import TrackedCommand


def reported_by(
    state: InstancePatchState | None, operation: str, snapshot_id: str, sent_at: dt.datetime
) -> bool:
    """Whether a patch state is the report of a command sent at ``sent_at`` (not an older one)."""
    return (
        state is not None
        and state.operation == operation
        and state.snapshot_id == snapshot_id
        and state.operation_end_time is not None
        and state.operation_end_time >= sent_at
    )


class ScanReports:
    """Settles finished Scan commands from patch states, and hands the states it read to the
    verification of the same poll (so they are read once)."""

    def __init__(self, fleet: Fleet, snapshot_id: str) -> None:
        self.fleet = fleet
        self.snapshot_id = snapshot_id
        self._read: dict[str, InstancePatchState] = {}
        self._asked: set[str] = set()

    def settle(self, commands: list[TrackedCommand]) -> dict[str, list[Invocation]]:
        """Commands (by id) whose every unsettled member reported: a Success invocation each."""
        pending = {
            t.command_id: [i for i in t.members if i not in t.finished and i not in t.abandoned]
            for t in commands
        }
        ids = [i for members in pending.values() for i in members]
        states = self.fleet.patch_states(ids) if ids else {}
        self._read.update(states)
        self._asked.update(ids)
        settled: dict[str, list[Invocation]] = {}
        for tracked in commands:
            members = pending[tracked.command_id]
            if all(reported_by(states.get(i), "Scan", self.snapshot_id, tracked.sent_at) for i in members):
                settled[tracked.command_id] = [
                    Invocation(tracked.command_id, i, "Success", "Success") for i in members
                ]
        return settled

    def states(self, instance_ids: Sequence[str]) -> dict[str, InstancePatchState]:
        """Patch states of these instances: those read by this poll's ``settle``, the rest read now."""
        rest = [i for i in instance_ids if i not in self._asked]
        found = {i: self._read[i] for i in instance_ids if i in self._read}
        if rest:
            found.update(self.fleet.patch_states(rest))
        return found

    def forget(self) -> None:
        """End of a poll: what was read is no longer current."""
        self._read.clear()
        self._asked.clear()
