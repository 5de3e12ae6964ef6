"""The simulated fleet's records: a node (state, reboots, pings as the service derives them),
an invocation (its timeline, decided when sent) and a command (what ListCommands knows)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from patchwave.fleet import TERMINAL_STATUSES, ComplianceSummary, InstancePatchState
from patchwave.sim.inventory import Inventory

EXECUTION_TIMEOUT = dt.timedelta(hours=2)  # AWS-RunPatchBaseline's execution timeout
UNDELIVERABLE_AFTER = dt.timedelta(seconds=30)
HARD_REBOOT_AFTER = dt.timedelta(minutes=4)  # EC2 forces a reboot the OS did not do by then
PATCH_DOCUMENT = "AWS-RunPatchBaseline"
GONE = frozenset({"stopped", "terminated"})


@dataclass
class SimInstance:
    instance_id: str
    platform: str
    tags: dict[str, str]
    ping_status: str
    state: str
    inventory: Inventory
    offline_from: dt.datetime | None = None
    offline_until: dt.datetime | None = None  # None with offline_from set: never comes back
    installs: int = 0
    reboots: int = 0
    busy_until: dt.datetime | None = None  # an operation (command or reboot) runs until then
    busy_forever: bool = False
    up_since: dt.datetime | None = None  # the agent's pings are counted from here
    stopped_at: dt.datetime | None = None
    terminated_at: dt.datetime | None = None

    @property
    def patch_group(self) -> str:
        return self.tags.get("Patch Group", self.tags.get("PatchGroup", ""))

    def state_at(self, now: dt.datetime) -> str:
        if self.terminated_at is not None and self.terminated_at <= now:
            return "terminated"
        if self.stopped_at is not None and self.stopped_at <= now:
            return "stopped"
        return self.state

    def managed_at(self, now: dt.datetime) -> bool:
        """Whether DescribeInstanceInformation lists it: not stopped, not terminated."""
        return self.state_at(now) not in GONE

    def down_at(self, now: dt.datetime) -> bool:
        """Whether the node is really down (rebooting): what PingStatus shows only later."""
        return (
            self.offline_from is not None
            and self.offline_from <= now
            and (self.offline_until is None or now < self.offline_until)
        )

    def go_down(self, at: dt.datetime, until: dt.datetime | None) -> None:
        """A reboot: down from ``at``, back at ``until`` (never when None)."""
        if self.offline_until is not None and self.offline_until <= at:
            self.up_since = self.offline_until  # it came back from the previous one
        self.offline_from, self.offline_until = at, until

    def last_ping(self, now: dt.datetime, interval: dt.timedelta, origin: dt.datetime) -> dt.datetime:
        """The agent pings when it starts and every ``interval`` while it runs."""
        since = self.up_since or origin
        until = now
        if self.offline_from is not None and self.offline_from <= now:
            if self.offline_until is not None and self.offline_until <= now:
                since = self.offline_until
            else:
                until = self.offline_from
        if until < since:
            return since
        return since + interval * ((until - since) // interval)

    def ping_at(self, now: dt.datetime, lag: dt.timedelta = dt.timedelta(0)) -> str:
        """PingStatus as the service reports it: a node that went down still reads Online for
        ``lag`` (the service notices missing pings late)."""
        if self.state_at(now) in GONE:
            return "ConnectionLost"
        if self.down_at(now) and self.offline_from is not None and now >= self.offline_from + lag:
            return "ConnectionLost"
        return self.ping_status

    def busy_at(self, now: dt.datetime) -> bool:
        return self.busy_forever or (self.busy_until is not None and now < self.busy_until)


@dataclass
class SimInvocation:
    command_id: str
    instance_id: str
    operation: str
    snapshot_id: str
    started: dt.datetime
    end: dt.datetime | None  # None: never ends by itself (stuck agent, hung reboot)
    final_status: str
    final_details: str
    install: list[str] = field(default_factory=list)
    needs_reboot: bool = False
    reboot_option: str = "RebootIfNeeded"
    cancelled_at: dt.datetime | None = None
    applied: bool = False
    sent: dt.datetime | None = None
    pending_report: tuple[InstancePatchState, ComplianceSummary] | None = None
    deliver_by: dt.datetime | None = None  # the command's delivery timeout (TimeoutSeconds)

    def status_at(self, now: dt.datetime) -> tuple[str, str]:
        if self.cancelled_at is not None and self.cancelled_at <= now:
            return "Cancelled", "Cancelled"
        if now < self.started:
            return "Pending", "Pending"
        if self.end is None or now < self.end:
            return "InProgress", "InProgress"
        return self.final_status, self.final_details

    def finished_at(self, now: dt.datetime) -> bool:
        return self.status_at(now)[0] in TERMINAL_STATUSES

    def error_at(self, now: dt.datetime) -> bool:
        """What a command's ErrorCount counts: Failed and Execution Timed Out only."""
        return self.status_at(now) in (("Failed", "Failed"), ("TimedOut", "ExecutionTimedOut"))


@dataclass
class SimCommand:
    """What ListCommands knows of a command besides its invocations."""

    command_id: str
    document: str
    requested: dt.datetime  # RequestedDateTime: when the service took it
    comment: str = ""
    asked: dt.datetime | None = None  # when the caller sent it (the adapter polls from there)
