"""The wave runner: install one wave with rate control, reboot wait and verification.

Driven only through the Fleet port and the Clock, so it runs the same on the simulator and on
AWS. An instance moves through:

    queued -> installing -> [controlled: reboot queued -> rebooting] -> verifying -> outcome

- installing and rebooting hold a concurrency slot (the disruptive part); verification (a Scan
  proving nothing approved is missing or pending reboot, then the health check) runs outside
  the slot, but its failures count toward max_errors like the others;
- installs start in a sliding window: whenever slots free, the next instances start together in
  one SendCommand (at most 50 ids);
- errors beyond max_errors halt the wave: nothing new starts, in-flight instances finish, the
  rest is not_attempted; the same holds past the window's cutoff;
- every deadline ends in an outcome, so no wave waits forever.

What a real account does, and the runner does not take on trust (docs/architecture.md):
- a reboot is over only with proof: a LastPingDateTime after the reboot request, or the agent
  seen ConnectionLost then Online (PingStatus alone reads Online for minutes after a reboot);
- a patch state counts only when it is this run's command's report: its Operation, SnapshotId
  and an OperationEndTime after the command was sent; an older one is waited for (up to the
  scan timeout), never taken as success;
- an instance that vanishes (terminated, stopped) is skipped_offline with the reason, and the
  rest of its command goes on;
- invocations that never ran (Undeliverable, Delivery Timed Out, AccessDenied, InvalidPlatform,
  Terminated) are reported as such and do not count toward max_errors unless the window says.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from patchwave.clock import Clock
from patchwave.fleet import Fleet, InstancePatchState, InstancesNotFound, Invocation, PatchCommand
from patchwave.state.leases import Leases, MemoryLeases
from patchwave.window.commands import CommandTracker, TrackedCommand, vanished
from patchwave.window.drain import DrainPolicy, DrainStage, drain_span
from patchwave.window.gates import alarm_halt
from patchwave.window.named import NamedPatches, override_groups, verify_named, wanted_for
from patchwave.window.outcomes import (
    ERRORS,
    RETRYABLE,
    UNDELIVERED_DETAILS,
    Outcome,
    counts_as_error,
    from_invocation,
    squeeze,
)
from patchwave.window.planning import PlannedInstance, WavePlan
from patchwave.window.polling import PollPolicy
from patchwave.window.ratecontrol import RateControl
from patchwave.window.ratespec import concurrency_for
from patchwave.window.scan_reports import ScanReports, reported_by
from patchwave.window.snapshots import FAILED_DETAILS, SnapshotPolicy, SnapshotStage

STALE_RECHECK = dt.timedelta(seconds=60)  # how often a stale patch state is read again
REBOOT_ISOLATION_ROUNDS = 3
ALARM_LOOK = dt.timedelta(seconds=60)  # alarm looks while nothing can start (metric periods are >= 10 s)


@dataclass(frozen=True)
class WaveSettings:
    snapshot_id: str
    run_id: str
    reboot: str = "if_needed"  # if_needed | never | controlled
    reboot_concurrency: str = "10%"
    install_override: tuple[str, ...] = ()
    named: NamedPatches | None = None  # the override resolved per operating system
    install_timeout: dt.timedelta = dt.timedelta(minutes=120)
    scan_timeout: dt.timedelta = dt.timedelta(minutes=30)
    reboot_timeout: dt.timedelta = dt.timedelta(minutes=20)
    health_check: bool = True
    stop_starting_at: dt.datetime | None = None  # the window's end minus its cutoff
    overlap_wait: dt.timedelta = dt.timedelta(minutes=30)  # for instances another run holds
    attempt: int = 1  # the flow run's attempt (Prefect retries keep the run, count attempts)
    undelivered_are_errors: bool = False  # Undeliverable, AccessDenied... count toward max_errors
    verify_batch_wait: dt.timedelta = dt.timedelta(seconds=60)  # finished installs wait to share a Scan
    reboot_grace: dt.timedelta = dt.timedelta(seconds=30)  # before the first look at a rebooting instance
    min_poll_seconds: float = 5.0  # the poll policy's bounds
    max_poll_seconds: float = 60.0
    snapshots: SnapshotPolicy | None = None  # EBS snapshots before each install (window/snapshots.py)
    alarms: tuple[tuple[str, tuple[str, ...]], ...] = ()  # per wave name: the alarms it watches
    drains: tuple[tuple[str, DrainPolicy], ...] = ()  # per wave name: drain and hooks (window/drain.py)

    def alarms_for(self, wave: str) -> tuple[str, ...]:
        return next((names for name, names in self.alarms if name == wave), ())

    def drain_for(self, wave: str) -> DrainPolicy | None:
        return next((policy for name, policy in self.drains if name == wave), None)


@dataclass(slots=True)  # slots: one per instance (issue 13, memory)
class InstanceResult:
    instance_id: str
    wave: str
    outcome: Outcome
    command_id: str = ""
    status_details: str = ""
    error: str = ""
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    snapshots: tuple[str, ...] = ()  # EBS snapshots taken before its install, the root volume's first


@dataclass
class WaveProgress:
    wave: str
    to_install: int
    started: int
    finished: int
    errors: int
    in_flight: int
    halted: bool


@dataclass
class WaveResult:
    name: str
    status: str  # completed | halted | cut_off | not_attempted
    results: list[InstanceResult]
    errors: int
    max_errors: int
    max_concurrency: int
    peak_in_flight: int
    started_at: dt.datetime
    finished_at: dt.datetime
    stop_reason: str = ""
    attempt: int = 1

    @property
    def counts(self) -> dict[str, int]:
        return dict(Counter(r.outcome.value for r in self.results))


@dataclass
class _Verifying:
    ids: list[str] = field(default_factory=list)
    since: dt.datetime | None = None


@dataclass(frozen=True)
class _Awaited:
    """A patch state that must come from one command: its operation, sent when."""

    operation: str  # Install (controlled reboots: is a reboot pending?) or Scan (verification)
    sent_at: dt.datetime
    waiting_since: dt.datetime


class WaveRunner:
    def __init__(
        self,
        fleet: Fleet,
        clock: Clock,
        wave: WavePlan,
        settings: WaveSettings,
        *,
        on_progress: Callable[[WaveProgress], None] | None = None,
        policy: PollPolicy | None = None,
        leases: Leases | None = None,
        record: Callable[..., None] | None = None,
        resume: Sequence[dict[str, Any]] = (),
    ) -> None:
        self.record = record or (lambda kind, **data: None)
        self.leases: Leases = leases or MemoryLeases()
        self.leased: set[str] = set()
        self.to_release: list[str] = []  # finished instances whose lease goes back in one call
        self.waiting: dict[str, tuple[dt.datetime, str]] = {}  # held by another run: since, holder
        self.last_beat: dt.datetime | None = None
        self.fleet = fleet
        self.clock = clock
        self.wave = wave
        self.settings = settings
        self.on_progress = on_progress
        self.policy = policy or PollPolicy(settings.min_poll_seconds, settings.max_poll_seconds)
        self.rate = RateControl(wave.max_concurrency, wave.max_errors)
        controlled = settings.reboot == "controlled"
        self.tracker = CommandTracker(
            fleet, clock, eager=frozenset({"Install"}) if controlled else frozenset()
        )
        self.tracker.intend = self._record_intents
        self.scan_reports = ScanReports(fleet, settings.snapshot_id)  # verification: states first
        self.tracker.settle["Scan"] = self.scan_reports.settle
        self.snapshots = (
            SnapshotStage(fleet, clock, settings.snapshots, settings.run_id, wave.name, self.record, resume)
            if settings.snapshots is not None
            else None
        )
        drain = settings.drain_for(wave.name)
        self.drain = (
            DrainStage(fleet, clock, drain, settings.run_id, wave.name, self.record, self._platforms, resume)
            if drain is not None
            else None
        )
        self.queue: deque[str] = deque(wave.install_ids)
        self.to_install = len(self.queue)
        self.results: dict[str, InstanceResult] = {}
        self.started_at: dict[str, dt.datetime] = {}
        self.install_command: dict[str, str] = {}
        self.reboot_queue: deque[str] = deque()
        self.rebooting: dict[str, dt.datetime] = {}
        self.reboot_slots = concurrency_for(settings.reboot_concurrency, max(1, self.to_install))
        self.verifying = _Verifying()
        self.own_errors = 0
        self.finished_after_start = 0
        self.listed_errors: Counter[str] = Counter()
        self.retired_install_errors = 0  # errors of install commands no longer active
        self.peak_in_flight = 0
        self.reboot_recorded: set[str] = set()
        self.seen_down: set[str] = set()  # rebooting instances seen ConnectionLost
        self.awaiting: dict[str, _Awaited] = {}  # stale patch states waited for
        self.next_state_check: dt.datetime | None = None
        self.platform_of = {m.instance_id: m.platform for m in wave.members}  # asked for every batch
        self.excused: Counter[str] = Counter()  # per command: errors AWS counts, patchwave not
        self.error_floor = 0  # errors a run that died had counted when it halted (resume)
        self.halt_recorded = False
        self.resumed = False
        self.scan_adopted: set[str] = set()  # verification scans a run that died had sent
        self.alarms = settings.alarms_for(wave.name)
        self.alarm_reason = ""  # set when one of the wave's alarms halted it
        self.last_alarm_look: dt.datetime | None = None
        for member in wave.members:
            if member.preset is not None:
                self.results[member.instance_id] = preset_result(member, wave.name, clock.now())

        if resume:
            self._resume(resume)

    def _resume(self, entries: Sequence[dict[str, Any]]) -> None:
        """Rebuild the wave from the ledger alone: decided outcomes stand and their errors
        count (finished commands' too); commands sent are polled again, never re-sent; an
        intent with no recorded send is looked up by its Comment token and adopted if the fleet
        has it (else its instances were never started); reboots asked or intended are awaited,
        never asked twice; a halt stands."""
        self.resumed = True
        outcomes = {e["instance_id"]: e for e in entries if e["kind"] == "outcome"}
        for iid, entry in outcomes.items():
            if iid in self.results:
                continue
            outcome = Outcome(entry["outcome"])
            if outcome in ERRORS or entry.get("counted"):
                if entry.get("own"):
                    self.own_errors += 1
                else:
                    self.listed_errors[entry.get("command_id", "")] += 1
            self.results[iid] = InstanceResult(
                instance_id=iid,
                wave=self.wave.name,
                outcome=outcome,
                command_id=entry.get("command_id", ""),
                status_details=entry.get("status_details", ""),
                error=entry.get("error", ""),
                started_at=_when(entry.get("started_at")),
                finished_at=_when(entry.get("finished_at")),
                snapshots=tuple(entry.get("snapshots", ())),
            )
        sends = [e for e in entries if e["kind"] == "send"]
        for intent in self._unsent_intents(entries, {e.get("token") for e in sends}):
            sends.append(intent)
        for entry in sends:
            members = tuple(entry["members"])
            open_members = [m for m in members if m not in self.results]
            if entry["operation"] == "Install":
                for iid in members:
                    self.started_at[iid] = _when(entry["sent_at"]) or self.clock.now()
                    self.install_command[iid] = entry["command_id"]
                    if iid in self.results:
                        self.finished_after_start += 1
                if not open_members:  # finished before the run died: its errors still count
                    self.retired_install_errors += self.listed_errors[entry["command_id"]]
            if entry["operation"] == "Scan":
                self.scan_adopted.update(open_members)
            if open_members:
                self.tracker.adopt(
                    entry["command_id"],
                    entry["operation"],
                    members,
                    _when(entry["sent_at"]) or self.clock.now(),
                    _when(entry["deadline"]) or self.clock.now(),
                    done=set(members) - set(open_members),
                    token=entry.get("token", ""),
                )
        if self.drain is not None:  # adopted intents are installs in flight too
            self.drain.installing([i for i in self.started_at if i not in self.results])
        for entry in (e for e in entries if e["kind"] in ("reboot", "reboot_intent")):
            for iid in entry["instance_ids"]:
                if iid not in self.results and iid not in self.rebooting:
                    # an intent without its record may or may not have been sent: awaited as
                    # sent, never asked twice (EC2 keeps no record of a reboot to look up)
                    self.rebooting[iid] = _when(entry["at"]) or self.clock.now()
                    self.reboot_recorded.add(iid)
        for entry in (e for e in entries if e["kind"] == "halt"):
            self.error_floor = max(self.error_floor, int(entry.get("errors", 0)))
            self.halt_recorded = True
            if entry.get("reason"):  # an alarm halted it: that halt stands too
                self.alarm_reason = self.rate.stopped_reason = str(entry["reason"])
        started = set(self.started_at)
        self.queue = deque(i for i in self.queue if i not in started and i not in self.results)
        self.leased.update(i for i in started if i not in self.results)
        self.rate.errors = self._error_total()

    def _unsent_intents(self, entries: Sequence[dict[str, Any]], sent: set[Any]) -> list[dict[str, Any]]:
        """Intents a run that died wrote but did not record as sent: the fleet is asked (by the
        Comment token) whether each was accepted; the ones it has become sends (recorded now,
        so the next resume need not ask), the others were never started."""
        adopted: list[dict[str, Any]] = []
        for line in (e for e in entries if e["kind"] == "intents"):
            for intent in line["commands"]:
                if intent["token"] in sent:
                    continue
                since = (_when(intent["at"]) or self.clock.now()) - dt.timedelta(minutes=5)
                command_id = self.fleet.find_command(intent["comment"], since)
                if command_id is None:
                    continue
                entry = {
                    "kind": "send",
                    "command_id": command_id,
                    "operation": intent["operation"],
                    "members": intent["members"],
                    "sent_at": intent["at"],
                    "deadline": line["deadline"],
                    "token": intent["token"],
                }
                self.record(**{**entry, "wave": self.wave.name})
                adopted.append(entry)
        return adopted

    # ----------------------------------------------------------------- main loop
    def run(self) -> WaveResult:
        began = self.clock.now()
        if self.resumed and self.tracker.active:
            self._observe()  # what the adopted commands did while no one watched, before any start
        while True:
            self._check_alarms()
            self._start_installs()
            self._start_reboots()
            self._flush_verification()
            self._report_progress()
            if not self._busy():
                break
            self.clock.sleep(self._next_wait())
            self._heartbeat()
            self._observe()
        reason = self.alarm_reason or self._stopped_why()
        for instance_id, (_, holder) in list(self.waiting.items()):
            self._finish(
                instance_id,
                Outcome.NOT_ATTEMPTED,
                error=f"not started: run {holder} was operating on it" + (f"; {reason}" if reason else ""),
            )
        self.waiting.clear()
        for instance_id in self.queue:
            self._finish(instance_id, Outcome.NOT_ATTEMPTED, error=f"not started: {reason}")
        self.queue.clear()
        if self.drain is not None:
            self.drain.flush()  # whatever is still out of service goes back
        self.to_release.extend(sorted(self.leased))
        self.leased.clear()
        self._release_finished()
        self._report_progress()
        if self.rate.halted or self.alarm_reason:
            status = "halted"
        elif self.rate.stopped_reason:
            status = "cut_off"
        else:
            status = "completed"
        ordered = [self.results[m.instance_id] for m in self.wave.members]
        return WaveResult(
            name=self.wave.name,
            status=status,
            results=ordered,
            errors=self.rate.errors,
            max_errors=self.rate.tolerated,
            max_concurrency=self.rate.concurrency,
            peak_in_flight=self.peak_in_flight,
            started_at=began,
            finished_at=self.clock.now(),
            stop_reason=reason if status != "completed" else "",
            attempt=self.settings.attempt,
        )

    def _observe(self) -> None:
        """One look at the fleet: poll, take what finished, count errors (and record a halt)."""
        polled = self.tracker.poll()
        for tracked, grew in polled.completions:
            if tracked.operation == "Install":
                self.policy.observe((self.clock.now() - tracked.sent_at).total_seconds(), grew)
        self._on_finished(polled.finished)
        self._on_overdue(polled.overdue)
        self._check_reboots()
        self._check_awaited()
        self.scan_reports.forget()
        self.rate.errors = self._error_total()
        if self.rate.halted and not self.halt_recorded:
            self.halt_recorded = True
            self.record("halt", wave=self.wave.name, errors=self.rate.errors)
        self._release_finished()

    def _busy(self) -> bool:
        can_start = bool(self.queue or self.waiting) and self.rate.free_slots(0) > 0
        return bool(
            self.tracker.active
            or self.reboot_queue
            or self.rebooting
            or self.verifying.ids
            or self.awaiting
            or can_start
            or (self.snapshots is not None and self.snapshots.in_flight > 0)
            or (self.drain is not None and self.drain.busy)
        )

    def _slots_in_use(self) -> int:
        snapshotting = self.snapshots.in_flight if self.snapshots is not None else 0
        used = (
            self.tracker.slots_in_use("Install") + len(self.reboot_queue) + len(self.rebooting) + snapshotting
        )
        if self.drain is not None:  # out of service from drain to back: the whole way holds the slot
            return max(used, self.drain.in_flight + snapshotting)
        return used

    def _next_wait(self) -> float:
        now = self.clock.now()
        wait = self.policy.interval(now, self.tracker.in_flight("Install"))
        moments = []
        deadline = self.tracker.next_deadline()
        if deadline is not None:
            moments.append(deadline)
        if self.verifying.since is not None:
            moments.append(self.verifying.since + self.settings.verify_batch_wait)
        if self.rebooting:  # the first look after the grace, then every grace (not every second)
            graces = [since + self.settings.reboot_grace for since in self.rebooting.values()]
            moments.append(min([g for g in graces if g > now] or [now + self.settings.reboot_grace]))
        if self.leased:  # a holder sleeping past its staleness would look dead
            moments.append(now + self.leases.stale_after / 3)
        if self.awaiting and self.next_state_check is not None:
            moments.append(self.next_state_check)
        if self.snapshots is not None and self.snapshots.next_check is not None:
            moments.append(self.snapshots.next_check)
        if self.drain is not None and self.drain.next_check is not None:
            moments.append(self.drain.next_check)
        for moment in moments:
            wait = min(wait, max(1.0, (moment - now).total_seconds()))
        return max(1.0, wait)

    def _heartbeat(self) -> None:
        """Keep this run's leases live (a run that stops beating loses them to the next)."""
        now = self.clock.now()
        if self.leased and (self.last_beat is None or now - self.last_beat >= self.leases.stale_after / 6):
            self.leases.heartbeat(self.settings.run_id, now)
            self.last_beat = now

    # ----------------------------------------------------------------- starting work
    def _start_installs(self) -> None:
        stop_at = self.settings.stop_starting_at
        now = self.clock.now()
        if (self.queue or self.waiting) and stop_at is not None and now >= stop_at and not self.alarm_reason:
            self.rate.stopped_reason = "the window's cutoff has passed"
        self._give_up_waiting(now)
        free = self.rate.free_slots(self._slots_in_use())
        batch: list[str] = []
        candidates = list(self.waiting) + list(self.queue)
        position = 0
        while len(batch) < free and position < len(candidates):
            chunk = candidates[position : position + (free - len(batch))]
            position += len(chunk)
            refused = self.leases.acquire(self.settings.run_id, chunk, now, now + self._lease_span())
            for iid in chunk:
                if iid in self.queue:
                    self.queue.remove(iid)
                if iid in refused:
                    self.waiting.setdefault(iid, (now, refused[iid]))
                else:
                    self.waiting.pop(iid, None)
                    self.leased.add(iid)
                    batch.append(iid)
        if self.snapshots is not None:
            batch = self._snapshotted(batch)
        if self.drain is not None:
            batch = self._drained(batch)
        if not batch:
            return
        settings = self.settings
        reboot_option = "RebootIfNeeded" if settings.reboot == "if_needed" else "NoReboot"
        deadline = now + settings.install_timeout
        if settings.reboot == "if_needed":
            deadline += settings.reboot_timeout
        sent = [  # one command per set of named patches (one InstallOverrideList per platform group)
            tracked
            for ids, override in override_groups(
                settings.named, settings.install_override, self._platforms(batch), batch
            )
            for tracked in self.tracker.send(
                ids,
                operation="Install",
                reboot_option=reboot_option,
                snapshot_id=settings.snapshot_id,
                run_id=settings.run_id,
                deadline=deadline,
                install_override=override,
                alarm=self.alarms[0] if self.alarms else "",
            )
        ]
        for tracked in sent:
            self._record_send(tracked)
            for instance_id in tracked.members:
                self.started_at[instance_id] = tracked.sent_at
                self.install_command[instance_id] = tracked.command_id
        self._vanished_at_send()
        self.peak_in_flight = max(self.peak_in_flight, self._slots_in_use())

    def _check_alarms(self) -> None:
        """One look at the wave's alarms before anything may start (patchwave/window/gates.py):
        the first in ALARM halts it, as errors would. While nothing can start, a look a minute
        at most (SSM's AlarmConfiguration stops the commands in flight; the look names why)."""
        if not self.alarms or self.alarm_reason:
            return
        now = self.clock.now()
        could_start = bool(self.queue or self.waiting) and self.rate.free_slots(self._slots_in_use()) > 0
        due = self.last_alarm_look is None or now - self.last_alarm_look >= ALARM_LOOK
        if not (could_start or (self.tracker.active and due)):
            return
        self.last_alarm_look = now
        reason = alarm_halt(self.fleet, self.alarms)
        if reason:
            self.alarm_reason = reason
            self.rate.stopped_reason = reason  # nothing new starts; in-flight work is polled to its end
            self.record("halt", wave=self.wave.name, errors=self.rate.errors, reason=reason)

    def _snapshotted(self, batch: list[str]) -> list[str]:
        """Snapshot a new batch first; returns the instances whose snapshots all completed (the
        ones that failed end here, uninstalled). Past a halt or the cutoff they never start."""
        assert self.snapshots is not None
        now = self.clock.now()
        for instance_id in batch:
            self.started_at[instance_id] = now  # its operation began: the outcome is recorded
        if batch:
            self.snapshots.start(batch)
        self.snapshots.poll()
        failed = self.snapshots.take_failed()
        for instance_id, why in failed.items():
            self._finish(instance_id, Outcome.FAILED_INSTALL, details=FAILED_DETAILS, error=why, own=True)
        if failed:  # counted now: a snapshot that just failed may halt the wave before the next send
            self.rate.errors = self._error_total()
        ready = self.snapshots.take_ready()
        stopped = self._stopped_why()
        if stopped:
            for instance_id in ready:
                self._finish(instance_id, Outcome.NOT_ATTEMPTED, error=f"snapshotted, not started: {stopped}")
            return []
        return ready

    def _stopped_why(self) -> str:
        """Why nothing new starts any more ('' while things may start)."""
        return "errors exceeded max_errors" if self.rate.halted else (self.rate.stopped_reason or "")

    def _drained(self, batch: list[str]) -> list[str]:
        """Drain a new batch and run its pre-install hook (window/drain.py); returns the
        instances ready to install. One look at the drain stages each time round."""
        assert self.drain is not None
        now = self.clock.now()
        for instance_id in batch:
            self.started_at.setdefault(instance_id, now)  # its operation began: the outcome is recorded
        self.drain.start(batch)
        self.drain.poll(self._stopped_why())
        ended = self.drain.take_ended()
        for item in ended:
            self._finish(item.instance_id, item.outcome, details=item.details, error=item.error, own=item.own)
        if ended:  # counted now: a hook that just failed may halt the wave before the next send
            self.rate.errors = self._error_total()
        ready = self.drain.take_ready()
        stopped = self._stopped_why()
        if stopped:
            for instance_id in ready:
                self._finish(instance_id, Outcome.NOT_ATTEMPTED, error=f"drained, not started: {stopped}")
            return []
        return ready

    def _vanished_at_send(self) -> None:
        """Instances a SendCommand could not include any more (terminated mid-window)."""
        for instance_id, why in self.tracker.drain_refused().items():
            self._finish(instance_id, Outcome.SKIPPED_OFFLINE, details="InvalidInstanceId", error=why)

    def _release_finished(self) -> None:
        if self.to_release:
            self.leases.release(self.settings.run_id, self.to_release)
            self.to_release = []

    def _lease_span(self) -> dt.timedelta:
        s = self.settings
        snapshotting = s.snapshots.timeout if s.snapshots is not None else dt.timedelta(0)
        drain = s.drain_for(self.wave.name)
        draining = drain_span(drain) if drain is not None else dt.timedelta(0)
        return (
            s.install_timeout
            + s.reboot_timeout * 2
            + s.scan_timeout
            + dt.timedelta(hours=1)
            + snapshotting
            + draining
        )

    def _give_up_waiting(self, now: dt.datetime) -> None:
        for iid, (since, holder) in list(self.waiting.items()):
            if now - since >= self.settings.overlap_wait:
                del self.waiting[iid]
                self._finish(
                    iid,
                    Outcome.NOT_ATTEMPTED,
                    error=f"not started: run {holder} was operating on it "
                    f"for longer than {self.settings.overlap_wait}",
                )

    def _start_reboots(self) -> None:
        free = min(self.reboot_slots - len(self.rebooting), len(self.reboot_queue))
        if free <= 0:
            return
        batch = [self.reboot_queue.popleft() for _ in range(free)]
        self.record("reboot_intent", wave=self.wave.name, instance_ids=batch, at=self.clock.now())
        batch = self._reboot_isolating(batch)
        if not batch:
            return
        now = self.clock.now()
        self.record("reboot", wave=self.wave.name, instance_ids=batch, at=now)
        for instance_id in batch:
            self.rebooting[instance_id] = now

    def _reboot_isolating(self, batch: list[str]) -> list[str]:
        """RebootInstances refuses the whole call for one unknown id: leave out the vanished
        ones (skipped_offline), reboot the rest. Returns the ids rebooted."""
        rebooted: list[str] = []
        for _ in range(REBOOT_ISOLATION_ROUNDS):
            try:
                self.fleet.reboot(batch)
            except InstancesNotFound as exc:
                rebooted.extend(exc.done)  # earlier chunks went through
                batch = [i for i in batch if i not in exc.done]
                gone = vanished(self.fleet, batch, exc)
                if not gone:
                    gone = set(batch)
                for iid in gone:
                    self._finish(
                        iid,
                        Outcome.SKIPPED_OFFLINE,
                        details="InvalidInstanceID.NotFound",
                        error=f"no longer a managed node when its reboot was asked ({exc})",
                    )
                batch = [i for i in batch if i not in gone]
                if not batch:
                    return rebooted
                continue
            return rebooted + batch
        for iid in batch:
            self._finish(iid, Outcome.FAILED_REBOOT, error="the reboot request kept being refused", own=True)
        return rebooted

    def _flush_verification(self) -> None:
        pending = self.verifying
        if not pending.ids or pending.since is None:
            return
        installs_running = self.tracker.slots_in_use("Install") > 0 or self.rebooting or self.queue
        due = self.clock.now() >= pending.since + self.settings.verify_batch_wait
        if len(pending.ids) < 50 and installs_running and not due:
            return
        ids, self.verifying = pending.ids, _Verifying()
        scans = self.tracker.send(
            ids,
            operation="Scan",
            reboot_option="NoReboot",
            snapshot_id=self.settings.snapshot_id,
            run_id=self.settings.run_id,
            deadline=self.clock.now() + self.settings.scan_timeout,
        )
        for tracked in scans:
            self._record_send(tracked)
        self._vanished_at_send()

    def _record_intents(self, commands: list[PatchCommand], deadline: dt.datetime) -> None:
        """Write-ahead: every command of a batch, with its unique Comment token, in one ledger
        line fsynced before the first is sent (a group commit)."""
        self.record(
            "intents",
            wave=self.wave.name,
            deadline=deadline,
            commands=[
                {
                    "token": c.token,
                    "comment": c.comment,
                    "operation": c.operation,
                    "members": list(c.instance_ids),
                    "at": self.clock.now(),
                }
                for c in commands
            ],
        )

    def _record_send(self, tracked: TrackedCommand) -> None:
        self.record(
            "send",
            wave=self.wave.name,
            command_id=tracked.command_id,
            operation=tracked.operation,
            members=list(tracked.members),
            sent_at=tracked.sent_at,
            deadline=tracked.deadline,
            token=tracked.token,
        )

    def _to_verify(self, instance_ids: Sequence[str]) -> None:
        # a resumed run adopts the dead run's install and its verification scan alike: the
        # scan's result verifies the instance, a second scan would run beside its next step
        instance_ids = [i for i in instance_ids if i not in self.scan_adopted]
        if not instance_ids:
            return
        if not self.verifying.ids:
            self.verifying.since = self.clock.now()
        self.verifying.ids.extend(instance_ids)

    # ----------------------------------------------------------------- results
    def _on_finished(self, finished: list[tuple[TrackedCommand, Invocation]]) -> None:
        installed: list[tuple[str, dt.datetime]] = []
        scanned: list[tuple[str, dt.datetime]] = []
        timed_out = [
            inv.instance_id
            for tracked, inv in finished
            if tracked.operation == "Install"
            and inv.status == "TimedOut"
            and from_invocation(inv.status, inv.status_details) == Outcome.TIMED_OUT
        ]
        # an install that timed out while its instance is unreachable went down and stayed
        # down, or vanished (terminated, stopped: no longer listed at all)
        ping = self.fleet.ping_info(timed_out) if timed_out else {}
        for tracked, invocation in finished:
            iid = invocation.instance_id
            if iid in self.results:
                continue
            if tracked.operation == "Install":
                outcome = from_invocation(invocation.status, invocation.status_details)
                if outcome is None:
                    if iid in self.rebooting or iid in self.reboot_recorded or self.tracker.verifying(iid):
                        continue  # resumed: it is already past its install
                    installed.append((iid, tracked.sent_at))
                    continue
                error = f"install invocation ended {invocation.status}"
                details = squeeze(invocation.status_details)
                own = False
                if iid in timed_out and iid not in ping:
                    outcome, error = (
                        Outcome.SKIPPED_OFFLINE,
                        "vanished during its install: no longer a managed node",
                    )
                    self.excused[tracked.command_id] += 1  # AWS counts it (Execution Timed Out)
                elif (
                    iid in timed_out and ping[iid].status != "Online" and self.settings.reboot == "if_needed"
                ):
                    outcome = Outcome.FAILED_REBOOT
                    error = "did not come back online after the install's reboot"
                elif details in UNDELIVERED_DETAILS:
                    error = f"the command never ran there: {invocation.status_details}"
                    own = self.settings.undelivered_are_errors
                    if own:
                        error += " (counted as an error by this window)"
                if (
                    outcome in ERRORS
                    and not own
                    and counts_as_error(invocation.status, invocation.status_details)
                ):
                    self.listed_errors[tracked.command_id] += 1
                elif outcome in ERRORS:
                    own = True
                self._finish(iid, outcome, details=details, error=error, own=own, force_error=own)
            elif invocation.status == "Success":
                scanned.append((iid, tracked.sent_at))
            else:
                self._finish(
                    iid,
                    Outcome.FAILED_VERIFICATION,
                    details=squeeze(invocation.status_details),
                    error=f"verification scan ended {invocation.status}",
                    own=True,
                )
        if installed:
            if self.settings.reboot == "controlled":
                self._await_states(installed, "Install")
            else:
                self._to_verify([iid for iid, _ in installed])
        if scanned:
            self._await_states(scanned, "Scan")

    def _platforms(self, instance_ids: Sequence[str]) -> dict[str, str]:
        known = self.platform_of
        return {iid: known[iid] for iid in instance_ids if iid in known}

    def _named_problems(self, instance_ids: list[str], allow_pending: bool) -> dict[str, list[str]]:
        s = self.settings
        wanted = wanted_for(s.named, s.install_override, self._platforms(instance_ids), instance_ids)
        return verify_named(self.fleet, wanted, allow_pending)

    def _await_states(self, finished: list[tuple[str, dt.datetime]], operation: str) -> None:
        now = self.clock.now()
        for iid, sent_at in finished:
            self.awaiting[iid] = _Awaited(operation, sent_at, now)
        self._read_awaited([iid for iid, _ in finished])

    def _check_awaited(self) -> None:
        if not self.awaiting or self.next_state_check is None:
            return
        if self.clock.now() >= self.next_state_check:
            self._read_awaited(list(self.awaiting))

    def _read_awaited(self, instance_ids: list[str]) -> None:
        """Read patch states; act on those this run's command reported; keep waiting for the
        others until the scan timeout."""
        states = self.scan_reports.states(instance_ids)
        now = self.clock.now()
        fresh: dict[str, list[str]] = {"Install": [], "Scan": []}
        for iid in instance_ids:
            awaited = self.awaiting[iid]
            state = states.get(iid)
            if state is not None and self._reported_by(state, awaited):
                del self.awaiting[iid]
                fresh[awaited.operation].append(iid)
            elif now >= awaited.waiting_since + self.settings.scan_timeout:
                del self.awaiting[iid]
                self._finish(
                    iid,
                    Outcome.FAILED_VERIFICATION,
                    details="stale patch state",
                    error=f"no patch state from this run's {awaited.operation} within the scan timeout "
                    f"(last report: {_describe_state(state)})",
                    own=True,
                )
        self.next_state_check = now + STALE_RECHECK if self.awaiting else None
        for iid in fresh["Install"]:
            if states[iid].installed_pending_reboot > 0:
                self.reboot_queue.append(iid)
            else:
                self._to_verify([iid])
        if fresh["Scan"]:
            self._verify(fresh["Scan"], states)

    def _reported_by(self, state: InstancePatchState, awaited: _Awaited) -> bool:
        """Whether a patch state is the report of this run's command (not an older one)."""
        return reported_by(state, awaited.operation, self.settings.snapshot_id, awaited.sent_at)

    def _verify(self, instance_ids: list[str], states: dict[str, InstancePatchState]) -> None:
        passed: list[str] = []
        allow_pending = self.settings.reboot == "never"
        named = self.settings.named is not None or bool(self.settings.install_override)
        named_problems = self._named_problems(instance_ids, allow_pending) if named else {}
        for iid in instance_ids:
            state = states[iid]
            problems = []
            if state.missing and not named:  # with named patches, each of those must be installed
                problems.append(f"{state.missing} approved patch(es) still missing")
            problems.extend(named_problems.get(iid, []))
            if state.failed:
                problems.append(f"{state.failed} patch(es) failed")
            if state.installed_pending_reboot and not allow_pending:
                problems.append(f"{state.installed_pending_reboot} patch(es) pending reboot")
            if problems:
                self._finish(iid, Outcome.FAILED_VERIFICATION, error="; ".join(problems), own=True)
            else:
                passed.append(iid)
        health = self.fleet.health(passed) if passed and self.settings.health_check else {}
        for iid in passed:
            reason = health.get(iid)
            if reason:
                self._finish(iid, Outcome.FAILED_VERIFICATION, error=reason, own=True)
            else:
                state = states[iid]
                details = "InstalledPendingReboot (NoReboot)" if state.installed_pending_reboot else "Success"
                if self.drain is not None:  # post-verify hook, back in service, healthy: then patched
                    self.drain.verified(iid, details)
                else:
                    self._finish(iid, Outcome.PATCHED, details=details)

    def _on_overdue(self, overdue: list[tuple[TrackedCommand, str]]) -> None:
        if not overdue:
            return
        ping = self.fleet.ping_info([iid for _, iid in overdue])
        by_command: dict[str, tuple[TrackedCommand, list[str]]] = {}
        for tracked, iid in overdue:
            by_command.setdefault(tracked.command_id, (tracked, []))[1].append(iid)
            info = ping.get(iid)
            status = info.status if info is not None else "not managed"
            if info is None:
                self._finish(
                    iid,
                    Outcome.SKIPPED_OFFLINE,
                    details="InProgress; not managed",
                    error=f"vanished during its {tracked.operation.lower()}: no longer a managed node",
                )
            elif tracked.operation == "Scan":
                self._finish(
                    iid,
                    Outcome.FAILED_VERIFICATION,
                    details="InProgress",
                    error="verification scan passed its deadline",
                    own=True,
                )
            elif status != "Online" and self.settings.reboot == "if_needed":
                self._finish(
                    iid,
                    Outcome.FAILED_REBOOT,
                    details=f"ping {status}",
                    error="did not come back online after the install's reboot",
                    own=True,
                )
            else:
                self._finish(
                    iid,
                    Outcome.TIMED_OUT,
                    details=f"InProgress; ping {status}",
                    error="install passed its deadline; cancelled",
                    own=True,
                )
        for tracked, ids in by_command.values():
            self.tracker.abandon(tracked, ids)

    def _check_reboots(self) -> None:
        """A rebooting instance is back only with proof: a ping after the reboot request, or
        ConnectionLost seen then Online. PingStatus Online alone proves nothing: it lags."""
        now = self.clock.now()
        due = [iid for iid, since in self.rebooting.items() if now >= since + self.settings.reboot_grace]
        if not due:
            return
        ping = self.fleet.ping_info(due)
        back: list[str] = []
        for iid in due:
            asked = self.rebooting[iid]
            info = ping.get(iid)
            if info is None:
                del self.rebooting[iid]
                self._finish(
                    iid,
                    Outcome.SKIPPED_OFFLINE,
                    details="not managed",
                    error="vanished during its controlled reboot: no longer a managed node",
                )
                continue
            if info.status != "Online":
                self.seen_down.add(iid)
            pinged_since = info.last_ping is not None and info.last_ping > asked
            if info.status == "Online" and (pinged_since or iid in self.seen_down):
                back.append(iid)
                del self.rebooting[iid]
                self.seen_down.discard(iid)
            elif now >= asked + self.settings.reboot_timeout:
                del self.rebooting[iid]
                self._finish(
                    iid,
                    Outcome.FAILED_REBOOT,
                    details=f"ping {info.status}; last ping {info.last_ping}",
                    error="did not come back online after the controlled reboot",
                    own=True,
                )
        self._to_verify(back)

    def _finish(
        self,
        instance_id: str,
        outcome: Outcome,
        *,
        details: str = "",
        error: str = "",
        own: bool = False,
        force_error: bool = False,
    ) -> None:
        if instance_id in self.results:
            return
        if own and (outcome in ERRORS or force_error):
            self.own_errors += 1
        if instance_id in self.started_at:
            self.finished_after_start += 1
        if instance_id in self.leased:
            self.leased.discard(instance_id)
            self.to_release.append(instance_id)
        result = InstanceResult(
            instance_id=instance_id,
            wave=self.wave.name,
            outcome=outcome,
            command_id=self.install_command.get(instance_id, ""),
            status_details=details,
            error=error,
            started_at=self.started_at.get(instance_id),
            finished_at=self.clock.now(),
            snapshots=self.snapshots.snapshot_ids(instance_id) if self.snapshots is not None else (),
        )
        self.results[instance_id] = result
        if self.drain is not None:
            self.drain.settle(instance_id)  # out of service: put back
        if instance_id in self.started_at:
            # shallow (no dataclasses.asdict deep copy): its fields are scalars
            fields = {f.name: getattr(result, f.name) for f in dataclasses.fields(result)}
            self.record("outcome", own=own, counted=force_error, **fields)

    def _error_total(self) -> int:
        """Install errors by the fleet's counters (they arrive before the invocations are
        listed) or by what was listed, whichever knows more, plus patchwave's own findings."""
        for tracked in self.tracker.drain_retired():
            if tracked.operation == "Install":
                self.retired_install_errors += self._install_errors(tracked)
        active = sum(
            self._install_errors(tracked)
            for tracked in self.tracker.active.values()
            if tracked.operation == "Install"
        )
        return max(self.error_floor, self.retired_install_errors + active + self.own_errors)

    def _install_errors(self, tracked: TrackedCommand) -> int:
        """A command's errors by the fleet's ErrorCount less what patchwave excuses (a node that
        vanished mid-install times out), or by what was listed, whichever knows more."""
        counted = max(0, tracked.errors - self.excused[tracked.command_id])
        return max(counted, self.listed_errors[tracked.command_id])

    def _report_progress(self) -> None:
        if self.on_progress is None:
            return
        finished = self.finished_after_start
        self.on_progress(
            WaveProgress(
                wave=self.wave.name,
                to_install=self.to_install,
                started=len(self.started_at),
                finished=finished,
                errors=self.rate.errors,
                in_flight=self._slots_in_use(),
                halted=self.rate.halted,
            )
        )


def preset_result(member: PlannedInstance, wave: str, when: dt.datetime) -> InstanceResult:
    """The outcome planning (or an approver) decided: an exclusion's reason is its error, the
    others' (offline, compliant) their status details."""
    assert member.preset is not None
    excluded = member.preset == Outcome.NOT_ATTEMPTED
    return InstanceResult(
        member.instance_id,
        wave,
        member.preset,
        status_details="" if excluded else member.reason,
        error=member.reason if excluded else "",
        finished_at=when,
    )


def not_run(wave: WavePlan, reason: str, when: dt.datetime, status: str = "not_attempted") -> WaveResult:
    """A wave that does not run (the window halted, was cut off or only scans): its instances
    to install are not_attempted, the others keep the outcome planning gave them."""
    results = [
        preset_result(m, wave.name, when)
        if m.preset is not None
        else InstanceResult(
            m.instance_id, wave.name, Outcome.NOT_ATTEMPTED, error=f"not started: {reason}", finished_at=when
        )
        for m in wave.members
    ]
    return WaveResult(
        name=wave.name,
        status=status,
        results=results,
        errors=0,
        max_errors=wave.max_errors,
        max_concurrency=wave.max_concurrency,
        peak_in_flight=0,
        started_at=when,
        finished_at=when,
        stop_reason=reason,
    )


def retry_part(wave: WavePlan, earlier: WaveResult) -> WavePlan:
    """The instances of a wave an earlier attempt did not finish well, to install again."""
    again = {r.instance_id for r in earlier.results if r.outcome in RETRYABLE}
    members = tuple(
        dataclasses.replace(m, preset=None, reason="") for m in wave.members if m.instance_id in again
    )
    return dataclasses.replace(wave, members=members)


def merge(earlier: WaveResult, later: WaveResult) -> WaveResult:
    """An earlier attempt's wave completed by a later one: the later outcome wins per instance."""
    latest = {r.instance_id: r for r in later.results}
    results = [latest.get(r.instance_id, r) for r in earlier.results]
    return WaveResult(
        name=earlier.name,
        status=later.status,
        results=results,
        errors=later.errors,
        max_errors=later.max_errors,
        max_concurrency=later.max_concurrency,
        peak_in_flight=max(earlier.peak_in_flight, later.peak_in_flight),
        started_at=earlier.started_at,
        finished_at=later.finished_at,
        stop_reason=later.stop_reason,
        attempt=later.attempt,
    )


def _describe_state(state: InstancePatchState | None) -> str:
    if state is None:
        return "none"
    return f"{state.operation} of snapshot {state.snapshot_id} ended {state.operation_end_time}"


def _when(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None
