"""The simulated account's commands, indexed so that listing them costs what the answer holds.

ListCommands is polled all through a window, filtered to the commands still executing and
invoked after a moment; scanning every command ever sent for each page made a window's cost grow
with the square of the fleet (about 25 minutes of emulator CPU at 50,000 instances). This index
keeps the commands in the order they were sent (a page cursor is a position in that order, so
what finished since the last page does not shift the next one, as AWS's opaque NextToken does
not), their request times (a binary search finds the first one invoked after a moment), the ones
that may still be executing (a command that has finished never executes again: its invocations
only end, by completing, timing out or being cancelled), and each instance's invocations (a
node that stops or terminates ends only its own).
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Callable, Iterator

from patchwave.sim.records import SimCommand, SimInvocation


class CommandIndex:
    def __init__(self) -> None:
        self.order: list[SimCommand] = []
        self._requested: list[dt.datetime] = []
        self._sorted = True  # request times ascending (the simulated clock never goes back)
        self._executing: dict[str, int] = {}  # command id -> position, in the order sent
        self.by_instance: dict[str, list[SimInvocation]] = {}

    def add(self, info: SimCommand, invocations: list[SimInvocation]) -> None:
        if self._requested and info.requested < self._requested[-1]:
            self._sorted = False
        self._executing[info.command_id] = len(self.order)
        self.order.append(info)
        self._requested.append(info.requested)
        for inv in invocations:
            self.by_instance.setdefault(inv.instance_id, []).append(inv)

    def first_at_or_after(self, when: dt.datetime | None) -> int:
        """The position of the first command requested at or after ``when`` (0 without one)."""
        if when is None or not self._sorted:
            return 0
        return bisect.bisect_left(self._requested, when)

    def candidates(
        self, cursor: int, invoked_after: dt.datetime | None, executing: Callable[[str], bool] | None
    ) -> Iterator[tuple[int, SimCommand]]:
        """(position, command) from ``cursor`` on that may match: with ``executing``, only those
        it says are still executing (the others leave the index for good)."""
        start = max(cursor, self.first_at_or_after(invoked_after))
        if executing is None:
            for position in range(start, len(self.order)):
                yield position, self.order[position]
            return
        for command_id, position in list(self._executing.items()):
            if position < start:
                continue
            if not executing(command_id):
                del self._executing[command_id]
                continue
            yield position, self.order[position]

    def page(
        self,
        matches: Callable[[SimCommand], bool],
        cursor: int,
        size: int,
        invoked_after: dt.datetime | None = None,
        executing: Callable[[str], bool] | None = None,
    ) -> tuple[list[str], int | None]:
        """Up to ``size`` matching command ids from ``cursor`` and the next page's cursor, None
        when no later command matches (looked for up to the first one that does)."""
        page: list[str] = []
        for position, info in self.candidates(cursor, invoked_after, executing):
            if not matches(info):
                continue
            if len(page) == size:
                return page, position
            page.append(info.command_id)
        return page, None
