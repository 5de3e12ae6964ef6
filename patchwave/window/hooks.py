"""Pre-install and post-verify hooks: SSM commands sent per batch, written ahead to the ledger.

A hook is a shell command (AWS-RunShellScript on Linux, AWS-RunPowerShellScript on Windows,
``executionTimeout`` set to the hook's timeout) or a named Command document with its
parameters. A batch's hook commands (one per document, 50 instances each) are written to the
ledger with their unique Comment tokens and fsynced before the first is sent (``hook_intents``),
like installs; a resumed run looks an unrecorded intent up by its Comment and adopts it, so a
hook is never sent twice. Each command is read through its invocations (ListCommandInvocations,
one call per 50 instances, at most every ``HOOK_POLL``); an instance still running past the
hook's timeout (plus ``HOOK_GRACE`` for delivery) is cancelled and counts as a failed hook.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from patchwave.clock import Clock
from patchwave.config.drain import Hook
from patchwave.fleet import Fleet, HookCommand, InstancesNotFound, chunks
from patchwave.window.commands import new_token, vanished

HOOK_POLL = dt.timedelta(seconds=15)
HOOK_GRACE = dt.timedelta(seconds=60)
SHELL = "AWS-RunShellScript"
POWERSHELL = "AWS-RunPowerShellScript"
LABELS = {"pre_install": "pre-install hook", "post_verify": "post-verify hook"}


@dataclass(frozen=True)
class HookSpec:
    """One hook as the runner uses it (``config.drain.Hook``, resolved)."""

    phase: str  # pre_install | post_verify
    command: str | None
    document: str | None
    parameters: tuple[tuple[str, tuple[str, ...]], ...] = ()
    timeout_seconds: int = 600

    @property
    def label(self) -> str:
        what = f"document {self.document}" if self.document else f"command {self.command!r}"
        return f"{LABELS[self.phase]} ({what})"

    def requests(
        self, platforms: Mapping[str, str], ids: Sequence[str]
    ) -> list[tuple[str, tuple[tuple[str, tuple[str, ...]], ...], list[str]]]:
        """(document, parameters, instances) per document the instances need."""
        if self.document is not None:
            return [(self.document, self.parameters, list(ids))]
        lines = tuple((self.command or "").splitlines()) or ("",)
        parameters = (("commands", lines), ("executionTimeout", (str(self.timeout_seconds),)))
        by_document: dict[str, list[str]] = {}
        for iid in ids:
            document = POWERSHELL if platforms.get(iid) == "WINDOWS" else SHELL
            by_document.setdefault(document, []).append(iid)
        return [(document, parameters, members) for document, members in sorted(by_document.items())]


def hook_spec(phase: str, hook: Hook | None) -> HookSpec | None:
    if hook is None:
        return None
    parameters = tuple((name, tuple(values)) for name, values in sorted(hook.parameters.items()))
    return HookSpec(phase, hook.command, hook.document, parameters, hook.timeout_seconds)


@dataclass
class HookRun:
    command_id: str
    phase: str
    document: str
    members: tuple[str, ...]
    sent_at: dt.datetime
    deadline: dt.datetime
    token: str = ""
    settled: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class HookResult:
    instance_id: str
    phase: str
    ok: bool
    status: str  # Success, Failed, TimedOut, Cancelled, or "vanished"
    details: str = ""


class HookTracker:
    def __init__(
        self, fleet: Fleet, clock: Clock, run_id: str, wave: str, record: Callable[..., None]
    ) -> None:
        self.fleet, self.clock, self.run_id, self.wave, self.record = fleet, clock, run_id, wave, record
        self.active: dict[str, HookRun] = {}
        self.results: list[HookResult] = []
        self.next_check: dt.datetime | None = None

    def send(self, spec: HookSpec, platforms: Mapping[str, str], ids: Sequence[str]) -> None:
        """One batch: its intents in one fsynced ledger line, then each command once."""
        now = self.clock.now()
        deadline = now + dt.timedelta(seconds=spec.timeout_seconds) + HOOK_GRACE
        commands = [
            HookCommand(
                tuple(chunk), document, parameters, self.run_id, spec.phase, new_token(), spec.timeout_seconds
            )
            for document, parameters, members in spec.requests(platforms, ids)
            for chunk in chunks(members)
        ]
        self._intend(commands, deadline)
        for command in commands:
            self._send_isolating(command, deadline)
        self._schedule()

    def _intend(self, commands: Sequence[HookCommand], deadline: dt.datetime) -> None:
        self.record(
            "hook_intents",
            wave=self.wave,
            deadline=deadline,
            commands=[
                {
                    "token": c.token,
                    "comment": c.comment,
                    "phase": c.phase,
                    "document": c.document,
                    "members": list(c.instance_ids),
                    "at": self.clock.now(),
                }
                for c in commands
            ],
        )

    def _send_isolating(self, command: HookCommand, deadline: dt.datetime) -> None:
        """Send; refused for an id no longer managed: those vanished, the rest sent anew."""
        for _ in range(3):
            sent_at = self.clock.now()
            try:
                command_id = self.fleet.send_hook_command(command)
            except InstancesNotFound as exc:
                gone = vanished(self.fleet, command.instance_ids, exc) or set(command.instance_ids)
                self.results.extend(HookResult(i, command.phase, False, "vanished", str(exc)) for i in gone)
                rest = tuple(i for i in command.instance_ids if i not in gone)
                if not rest:
                    return
                command = HookCommand(
                    rest,
                    command.document,
                    command.parameters,
                    self.run_id,
                    command.phase,
                    new_token(),
                    command.timeout_seconds,
                )
                self._intend([command], deadline)
                continue
            self._track(
                HookRun(
                    command_id,
                    command.phase,
                    command.document,
                    command.instance_ids,
                    sent_at,
                    deadline,
                    command.token,
                )
            )
            return
        self.results.extend(
            HookResult(i, command.phase, False, "refused", "SendCommand kept refusing")
            for i in command.instance_ids
        )

    def _track(self, run: HookRun, recorded: bool = False) -> None:
        self.active[run.command_id] = run
        if not recorded:
            self.record(
                "hook_send",
                wave=self.wave,
                command_id=run.command_id,
                phase=run.phase,
                document=run.document,
                members=list(run.members),
                sent_at=run.sent_at,
                deadline=run.deadline,
                token=run.token,
            )

    def _schedule(self) -> None:
        if self.active and self.next_check is None:
            self.next_check = self.clock.now() + HOOK_POLL

    def poll(self) -> list[HookResult]:
        """One look (when due) at every active hook command; returns what finished."""
        now = self.clock.now()
        if self.active and (self.next_check is None or now >= self.next_check):
            for run in list(self.active.values()):
                self._look(run, now)
            self.next_check = now + HOOK_POLL if self.active else None
        found, self.results = self.results, []
        return found

    def _look(self, run: HookRun, now: dt.datetime) -> None:
        overdue: list[str] = []
        for invocation in self.fleet.list_invocations(run.command_id):
            iid = invocation.instance_id
            if iid in run.settled:
                continue
            if invocation.finished:
                run.settled.add(iid)
                ok = invocation.status == "Success"
                self.results.append(
                    HookResult(iid, run.phase, ok, invocation.status, invocation.status_details)
                )
            elif now >= run.deadline:
                overdue.append(iid)
        if overdue:
            self.fleet.cancel_command(run.command_id, overdue)
            run.settled.update(overdue)
            self.results.extend(
                HookResult(i, run.phase, False, "TimedOut", "no end within the hook's timeout; cancelled")
                for i in overdue
            )
        if set(run.members) <= run.settled:
            del self.active[run.command_id]

    @property
    def moment(self) -> dt.datetime | None:
        return self.next_check if self.active else None

    # ----------------------------------------------------------------- resume
    def resume(self, entries: Sequence[Mapping[str, Any]]) -> None:
        """Hook commands a run that died sent (polled again, never re-sent) or only intended
        (looked up by their Comment: adopted if the fleet has them, else never started)."""
        sent = {e["token"]: e for e in entries if e.get("kind") == "hook_send" and e.get("wave") == self.wave}
        for entry in sent.values():
            self._track(_run_of(entry), recorded=True)
        for line in (e for e in entries if e.get("kind") == "hook_intents" and e.get("wave") == self.wave):
            for intent in line["commands"]:
                if intent["token"] in sent:
                    continue
                at = _when(intent["at"])
                command_id = self.fleet.find_hook_command(
                    intent["comment"], at - dt.timedelta(minutes=5), intent["document"]
                )
                if command_id is not None:
                    entry = {
                        **intent,
                        "command_id": command_id,
                        "sent_at": intent["at"],
                        "deadline": line["deadline"],
                    }
                    self._track(_run_of(entry))
        self._schedule()


def _when(value: Any) -> dt.datetime:
    return dt.datetime.fromisoformat(value) if isinstance(value, str) else value


def _run_of(entry: Mapping[str, Any]) -> HookRun:
    return HookRun(
        entry["command_id"],
        entry["phase"],
        entry["document"],
        tuple(entry["members"]),
        _when(entry["sent_at"]),
        _when(entry["deadline"]),
        entry.get("token", ""),
    )
