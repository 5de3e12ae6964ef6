"""Drain and hooks: the wave runner's optional stages around an install (issue 16).

    queued -> [snapshot] -> drain -> pre-install hook -> installing -> ... -> verified
           -> post-verify hook -> put back -> healthy -> patched

- **Drain**, per batch: where each instance takes traffic is read once (target groups it is
  registered in, its Auto Scaling group); Auto Scaling members InService go to Standby first
  (EnterStandby, decrementing the desired capacity: scale-in and health replacement leave them
  alone), then every registration is deregistered with its port (DeregisterTargets, per group);
  the install waits until each instance's groups' deregistration delays have passed, so open
  connections drain. What was taken out is written to the ledger (``drain``, fsynced) before
  the first call, so a resumed run knows what to put back.
- **Hooks** (``window/hooks.py``): the pre-install hook runs once the drain is over; a failed
  or timed-out one means no install there (failed_install, ``PreInstallHookFailed``). The
  post-verify hook runs after verification; failing, the instance is failed_verification
  (``PostVerifyHookFailed``). Both count toward max_errors and name the hook.
- **Put back**, per batch: ExitStandby for what patchwave put in Standby (never for what it
  found there), RegisterTargets with the ports it deregistered; a verified instance counts
  ``patched`` only once every registration reads ``healthy`` (DescribeTargetHealth), else
  failed_verification when ``healthy_timeout`` passes. An instance that ends any other way
  (failed, timed out, not attempted) is put back too, without waiting for its health.

An instance in these stages holds its concurrency slot from its drain until it is back (the
wave's disruption budget: never more than max_concurrency instances out of service), and one
operation at a time runs there: hook, install, hook, in sequence.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from patchwave.clock import Clock
from patchwave.config.drain import DrainSettings, HookSettings
from patchwave.config.windows import Window
from patchwave.fleet import Fleet, TargetRegistration
from patchwave.window.hooks import HookResult, HookSpec, HookTracker, hook_spec
from patchwave.window.outcomes import UNREACHABLE_DETAILS, Outcome, squeeze

HEALTH_POLL = dt.timedelta(seconds=15)
BACK_IN_SERVICE = frozenset({"InService", "Pending", "Pending:Wait", "Pending:Proceed"})
PHASE_DETAILS = {"pre_install": "PreInstallHook", "post_verify": "PostVerifyHook"}


@dataclass(frozen=True)
class DrainPolicy:
    """What a wave asks (its own ``drain``/``hooks``, else its window's), resolved."""

    drain: bool = False
    elb: bool = True
    auto_scaling: bool = True
    target_groups: tuple[str, ...] = ()
    healthy_timeout: dt.timedelta = dt.timedelta(minutes=10)
    max_delay: dt.timedelta = dt.timedelta(minutes=60)
    pre: HookSpec | None = None
    post: HookSpec | None = None


def policy_for(drain: DrainSettings, hooks: HookSettings) -> DrainPolicy | None:
    """None when the wave neither drains nor runs hooks (the runner then skips these stages)."""
    if not drain.enabled and not hooks.any:
        return None
    return DrainPolicy(
        drain=drain.enabled,
        elb=drain.elb,
        auto_scaling=drain.auto_scaling,
        target_groups=tuple(drain.target_groups),
        healthy_timeout=dt.timedelta(minutes=drain.healthy_timeout_minutes),
        max_delay=dt.timedelta(minutes=drain.max_delay_minutes),
        pre=hook_spec("pre_install", hooks.pre_install),
        post=hook_spec("post_verify", hooks.post_verify),
    )


def wave_drains(window: Window) -> tuple[tuple[str, DrainPolicy], ...]:
    """Each wave's policy: its own drain and hooks where it gives them, else its window's."""
    found = []
    for wave in window.waves:
        policy = policy_for(wave.drain or window.drain, wave.hooks or window.hooks)
        if policy is not None:
            found.append((wave.name, policy))
    return tuple(found)


def drain_span(policy: DrainPolicy) -> dt.timedelta:
    """The longest these stages can hold an instance (for its lease)."""
    hooks = sum(
        (dt.timedelta(seconds=h.timeout_seconds) for h in (policy.pre, policy.post) if h is not None),
        dt.timedelta(0),
    )
    return policy.max_delay + policy.healthy_timeout + hooks + dt.timedelta(minutes=5)


@dataclass(frozen=True)
class Ended:
    """An instance these stages finished: its outcome, status details, error; ``own`` errors
    count toward max_errors."""

    instance_id: str
    outcome: Outcome
    details: str = ""
    error: str = ""
    own: bool = False


@dataclass
class _Held:
    phase: str  # draining | pre_hook | ready | installing | post_hook | restoring
    targets: tuple[TargetRegistration, ...] = ()
    asg: str = ""  # the Auto Scaling group patchwave put it in Standby of
    until: dt.datetime | None = None  # draining: the delay's end; restoring: the health deadline
    details: str = ""  # restoring a verified instance: its verification details
    notes: list[str] = field(default_factory=list)


class DrainStage:
    def __init__(
        self,
        fleet: Fleet,
        clock: Clock,
        policy: DrainPolicy,
        run_id: str,
        wave: str,
        record: Callable[..., None],
        platforms: Callable[[Sequence[str]], dict[str, str]],
        resume: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        self.fleet, self.clock, self.policy, self.wave, self.record = fleet, clock, policy, wave, record
        self.platforms = platforms
        self.hooks = HookTracker(fleet, clock, run_id, wave, record)
        self.held: dict[str, _Held] = {}
        self.ready: list[str] = []
        self.ended: list[Ended] = []
        self.to_restore: dict[str, bool] = {}  # instance -> wait for its health (a verified one)
        self.delays: dict[str, int] = {}
        self.next_health: dt.datetime | None = None
        self.early: dict[tuple[str, str], HookResult] = {}  # results of adopted hooks, kept
        self.drained: dict[str, _Held] = {}  # resumed: drained by a run that died, not put back
        self.post_queue: list[str] = []  # verified, their post-verify hook sent at the next look
        self.decisions: dict[str, Ended] = {}  # outcomes these stages decided, kept for the restore record
        if resume:
            self._resume(resume)

    # ----------------------------------------------------------------- the runner's view
    @property
    def in_flight(self) -> int:
        """Instances out of service or in a hook: each holds a concurrency slot."""
        return len(self.held)

    @property
    def busy(self) -> bool:
        waiting = any(h.phase != "installing" for h in self.held.values())
        return waiting or bool(
            self.to_restore or self.ready or self.ended or self.hooks.active or self.post_queue
        )

    @property
    def next_check(self) -> dt.datetime | None:
        moments = [h.until for h in self.held.values() if h.phase == "draining" and h.until is not None]
        moments += [m for m in (self.hooks.moment, self.next_health) if m is not None]
        return min(moments) if moments else None

    def take_ready(self) -> list[str]:
        ready, self.ready = self.ready, []
        for iid in ready:
            self.held[iid].phase = "installing"
        return ready

    def take_ended(self) -> list[Ended]:
        ended, self.ended = self.ended, []
        return ended

    # ----------------------------------------------------------------- out of service
    def start(self, batch: Sequence[str]) -> None:
        """Take a batch out of service (or adopt what a run that died took out)."""
        if not batch:
            return
        now = self.clock.now()
        fresh = [iid for iid in batch if iid not in self.drained]
        adopted = [iid for iid in batch if iid in self.drained]
        if adopted:
            self._readopt(adopted, now)
        if fresh and self.policy.drain:
            self._drain(fresh, now)
        else:
            for iid in fresh:
                self.held[iid] = _Held("draining", until=now)

    def _drain(self, batch: Sequence[str], now: dt.datetime) -> None:
        p = self.policy
        found = self.fleet.service_memberships(batch, p.target_groups) if p.elb or p.auto_scaling else {}
        plan: dict[str, _Held] = {}
        for iid in batch:
            member = found.get(iid)
            held = _Held("draining", targets=member.targets if member is not None and p.elb else ())
            if member is not None and p.auto_scaling and member.auto_scaling_group:
                if member.lifecycle_state == "InService":
                    held.asg = member.auto_scaling_group
                else:  # not ours to put back: left as found
                    held.notes.append(f"Auto Scaling {member.lifecycle_state} before the run: left so")
            plan[iid] = held
        self.record(
            "drain",
            wave=self.wave,
            at=now,
            instances={
                iid: {"targets": [[t.target_group_arn, t.port] for t in h.targets], "asg": h.asg}
                for iid, h in plan.items()
                if h.targets or h.asg
            },
        )
        by_group: dict[str, list[str]] = {}
        for iid, held in plan.items():
            if held.asg:
                by_group.setdefault(held.asg, []).append(iid)
        self._take_out(plan, by_group, now)

    def _take_out(self, plan: dict[str, _Held], by_group: dict[str, list[str]], now: dt.datetime) -> None:
        """Standby first (a refusal leaves the instance serving: nothing deregistered, no
        install), then DeregisterTargets; each is held until its groups' delays have passed."""
        for group, ids in by_group.items():
            for iid, why in self.fleet.enter_standby(group, ids).items():
                plan[iid].asg = ""  # not in Standby: nothing to take back
                self._end(
                    iid,
                    Outcome.FAILED_INSTALL,
                    "DrainFailed",
                    f"drain failed: EnterStandby refused: {why}; not installed",
                    own=True,
                )
                self.to_restore[iid] = False  # its registrations stay as they are (never deregistered)
                plan[iid].targets = ()
        targets = [t for iid, h in plan.items() if iid not in self.to_restore for t in h.targets]
        if targets:
            self.fleet.deregister_targets(targets)
        unknown = sorted({t.target_group_arn for t in targets} - set(self.delays))
        if unknown:
            self.delays.update(self.fleet.deregistration_delays(unknown))
        for iid, held in plan.items():
            held.phase = "draining"
            if iid in self.to_restore:
                self.held[iid] = held
                continue
            delay = max((self.delays.get(t.target_group_arn, 300) for t in held.targets), default=0)
            held.until = now + min(dt.timedelta(seconds=delay), self.policy.max_delay)
            self.held[iid] = held

    def _readopt(self, batch: Sequence[str], now: dt.datetime) -> None:
        """Instances a run that died had begun to take out (its ``drain`` record is written
        before the first call, so any call after it may not have been made): the calls are
        made again where that is safe -- Standby asked only of members still InService (AWS
        refuses it otherwise), DeregisterTargets again (it does nothing for a target already
        gone) -- and the deregistration delay runs again from now, as its start is unknown."""
        plan = {iid: self.drained.pop(iid) for iid in batch}
        in_asg = [iid for iid, h in plan.items() if h.asg]
        found = self.fleet.service_memberships(in_asg, self.policy.target_groups) if in_asg else {}
        by_group: dict[str, list[str]] = {}
        for iid in in_asg:
            member = found.get(iid)
            if member is not None and member.lifecycle_state == "InService":
                by_group.setdefault(plan[iid].asg, []).append(iid)
        self._take_out(plan, by_group, now)

    # ----------------------------------------------------------------- one look
    def poll(self, stopped: str = "") -> None:
        """Drained instances go to their pre-install hook (or are ready); hook results move
        instances on; what is due is put back; health of what is coming back is read."""
        now = self.clock.now()
        drained = [
            iid
            for iid, h in self.held.items()
            if h.phase == "draining" and h.until is not None and h.until <= now
        ]
        if drained and stopped:
            for iid in drained:
                self._end(iid, Outcome.NOT_ATTEMPTED, error=f"drained, not started: {stopped}")
            drained = []
        if drained and self.policy.pre is not None:
            self._hook(self.policy.pre, drained)
        else:
            for iid in drained:
                self.held[iid].phase = "ready"
                self.ready.append(iid)
        for result in self.hooks.poll():
            self._on_hook(result)
        self._restore()
        self._check_health(now)

    def _hook(self, spec: HookSpec, ids: list[str]) -> None:
        phase = "pre_hook" if spec.phase == "pre_install" else "post_hook"
        waiting = [iid for iid in ids if (spec.phase, iid) in self.early or self._adopted(spec.phase, iid)]
        for iid in ids:
            self.held[iid].phase = phase
        fresh = [iid for iid in ids if iid not in waiting]
        if fresh:
            self.hooks.send(spec, self.platforms(fresh), fresh)
        for iid in waiting:
            if (spec.phase, iid) in self.early:
                self._on_hook(self.early.pop((spec.phase, iid)))

    def _adopted(self, phase: str, instance_id: str) -> bool:
        return any(
            r.phase == phase and instance_id in r.members and instance_id not in r.settled
            for r in self.hooks.active.values()
        )

    def _on_hook(self, result: HookResult) -> None:
        held = self.held.get(result.instance_id)
        wanted = "pre_hook" if result.phase == "pre_install" else "post_hook"
        if held is None or held.phase != wanted:
            self.early[(result.phase, result.instance_id)] = result  # adopted before its turn
            return
        spec = self.policy.pre if result.phase == "pre_install" else self.policy.post
        label = spec.label if spec is not None else result.phase
        if result.ok:
            if result.phase == "pre_install":
                held.phase = "ready"
                self.ready.append(result.instance_id)
            else:
                self.to_restore[result.instance_id] = True
            return
        if result.status == "vanished" or squeeze(result.details) in UNREACHABLE_DETAILS:
            self._end(
                result.instance_id,
                Outcome.SKIPPED_OFFLINE,
                squeeze(result.details) or result.status,
                f"{label} never ran there: {result.details}",
            )
            return
        timed_out = result.status == "TimedOut"
        base = PHASE_DETAILS[result.phase] + ("TimedOut" if timed_out else "Failed")
        what = f"{label} timed out" if timed_out else f"{label} ended {result.status}"
        if result.phase == "pre_install":
            self._end(result.instance_id, Outcome.FAILED_INSTALL, base, f"{what}; not installed", own=True)
        else:
            self._end(
                result.instance_id, Outcome.FAILED_VERIFICATION, base, f"{what} after verification", own=True
            )

    def _end(
        self, instance_id: str, outcome: Outcome, details: str = "", error: str = "", own: bool = False
    ) -> None:
        held = self.held.get(instance_id)
        if held is not None and held.notes:
            error = "; ".join([error, *held.notes]) if error else "; ".join(held.notes)
        self.ended.append(Ended(instance_id, outcome, details, error, own))
        self.decisions[instance_id] = self.ended[-1]
        self.to_restore.setdefault(instance_id, False)

    # ----------------------------------------------------------------- back in service
    def verified(self, instance_id: str, details: str) -> None:
        """Verification passed: the post-verify hook next (batched), then back in service."""
        held = self.held.get(instance_id)
        if held is None:  # not taken out by these stages (cannot happen when they run)
            self.ended.append(Ended(instance_id, Outcome.PATCHED, details))
            return
        held.details = details
        if held.phase == "restoring":  # a run that died had put it back: its health is awaited
            return
        if self.policy.post is not None:
            held.phase = "post_hook"
            self.post_queue.append(instance_id)
        else:
            self.to_restore[instance_id] = True

    def settle(self, instance_id: str) -> None:
        """The runner decided this instance's outcome: put it back if it is still out."""
        if instance_id in self.held and instance_id not in self.to_restore:
            self.to_restore[instance_id] = False

    def _restore(self) -> None:
        post, self.post_queue = self.post_queue, []
        if post and self.policy.post is not None:
            self._hook(self.policy.post, post)
        due = [iid for iid in self.to_restore if iid in self.held and self.held[iid].phase != "restoring"]
        due += [iid for iid in self.to_restore if iid not in self.held]
        if not due:
            return
        now = self.clock.now()
        by_group: dict[str, list[str]] = {}
        for iid in due:
            held = self.held.get(iid)
            if held is not None and held.asg:
                by_group.setdefault(held.asg, []).append(iid)
        refused: dict[str, str] = {}
        for group, ids in by_group.items():
            refused.update(self._exit_standby(group, ids))
        targets = [t for iid in due if iid in self.held for t in self.held[iid].targets]
        if targets:
            for iid, why in self.fleet.register_targets(targets).items():
                refused[iid] = f"RegisterTargets refused: {why}"
        self.record(  # what a resumed run needs: the outcomes decided here, who awaits health
            "restore",
            wave=self.wave,
            at=now,
            instance_ids=due,
            decided={
                iid: [e.outcome.value, e.details, e.error, e.own]
                for iid in due
                if (e := self.decisions.get(iid)) is not None
            },
            waiting={
                iid: self.held[iid].details
                for iid in due
                if self.to_restore.get(iid) and iid in self.held and self.held[iid].targets
            },
        )
        for iid in due:
            wait = self.to_restore.pop(iid)
            held = self.held.get(iid)
            if held is None:
                continue
            if wait and iid in refused:
                del self.held[iid]
                self._end_now(
                    iid,
                    Outcome.FAILED_VERIFICATION,
                    "NotBackInService",
                    f"verified, but not put back in service: {refused[iid]}",
                )
            elif wait and held.targets:
                held.phase, held.until = "restoring", now + self.policy.healthy_timeout
                self.next_health = min(self.next_health or now + HEALTH_POLL, now + HEALTH_POLL)
            elif wait:
                del self.held[iid]
                self._end_now(iid, Outcome.PATCHED, held.details)
            else:
                del self.held[iid]

    def _exit_standby(self, group: str, ids: list[str]) -> dict[str, str]:
        """ExitStandby; a refusal for an instance already back (a run that died put it back
        before recording so, or someone else did) is no refusal: its lifecycle is read."""
        refusals = self.fleet.exit_standby(group, ids)
        if not refusals:
            return {}
        now_in = self.fleet.service_memberships(sorted(refusals), ())
        back = {
            iid
            for iid, member in now_in.items()
            if member.auto_scaling_group == group and member.lifecycle_state in BACK_IN_SERVICE
        }
        return {iid: f"ExitStandby refused: {why}" for iid, why in refusals.items() if iid not in back}

    def _end_now(self, instance_id: str, outcome: Outcome, details: str = "", error: str = "") -> None:
        self.ended.append(Ended(instance_id, outcome, details, error, own=outcome != Outcome.PATCHED))

    def _check_health(self, now: dt.datetime) -> None:
        restoring = {iid: h for iid, h in self.held.items() if h.phase == "restoring"}
        if not restoring or self.next_health is None or now < self.next_health:
            return
        states = self.fleet.target_health([t for h in restoring.values() for t in h.targets])
        for iid, held in restoring.items():
            bad = [(t, states.get(t, ("unused", "not listed"))) for t in held.targets]
            bad = [(t, s) for t, s in bad if s[0] != "healthy"]
            if not bad:
                del self.held[iid]
                self._end_now(iid, Outcome.PATCHED, held.details)
            elif held.until is not None and now >= held.until:
                del self.held[iid]
                why = "; ".join(f"{_group_name(t.target_group_arn)} {s[0]} ({s[1]})" for t, s in bad)
                self._end_now(
                    iid,
                    Outcome.FAILED_VERIFICATION,
                    "NotHealthyInTargetGroup",
                    f"re-registered but not healthy within {self.policy.healthy_timeout}: {why}",
                )
        self.next_health = (
            now + HEALTH_POLL if any(h.phase == "restoring" for h in self.held.values()) else None
        )

    def flush(self) -> None:
        """At the wave's end: put back whatever is still out (no health wait)."""
        for iid in list(self.held):
            self.to_restore[iid] = False
        self._restore()

    # ----------------------------------------------------------------- resume
    def installing(self, instance_ids: Sequence[str]) -> None:
        """The runner found these instances' installs started by a run that died (recorded,
        or an intent the fleet had accepted): out of service, their install in flight."""
        for iid in instance_ids:
            if iid in self.drained:
                self.held[iid] = self.drained.pop(iid)
                self.held[iid].phase = "installing"

    def _resume(self, entries: Sequence[Mapping[str, Any]]) -> None:
        """Instances a run that died took out and did not put back: those with an outcome are
        put back at once; the others are held (their install may be in flight). Put back but
        not recorded as ended: the outcome these stages had decided is given again, and a
        verified one awaits its health again."""
        restores = [e for e in entries if e.get("kind") == "restore" and e.get("wave") == self.wave]
        restored = {i for e in restores for i in e["instance_ids"]}
        decided = {e["instance_id"] for e in entries if e.get("kind") == "outcome"}
        waiting: dict[str, tuple[dt.datetime, str]] = {}
        for entry in restores:
            for iid, (outcome, details, error, own) in entry.get("decided", {}).items():
                if iid not in decided:
                    self.ended.append(Ended(iid, Outcome(outcome), details, error, own))
            for iid, details in entry.get("waiting", {}).items():
                if iid not in decided:
                    waiting[iid] = (_when(entry["at"]), details)
        for entry in (e for e in entries if e.get("kind") == "drain" and e.get("wave") == self.wave):
            for iid, what in entry["instances"].items():
                targets = tuple(TargetRegistration(arn, iid, port) for arn, port in what["targets"])
                if iid in waiting:
                    at, details = waiting[iid]
                    until = at + self.policy.healthy_timeout
                    self.held[iid] = _Held("restoring", targets=targets, until=until, details=details)
                    self.next_health = self.clock.now()
                    continue
                if iid in restored:
                    continue
                held = _Held("draining", targets=targets, asg=what.get("asg", ""), until=_when(entry["at"]))
                if iid in decided:
                    self.held[iid] = held
                    self.to_restore[iid] = False
                else:
                    self.drained[iid] = held
        sent = {
            m
            for e in entries
            if e.get("kind") == "send" and e.get("operation") == "Install"
            for m in e["members"]
        }
        for iid in [i for i in self.drained if i in sent and i not in decided]:
            self.held[iid] = self.drained.pop(iid)
            self.held[iid].phase = "installing"
        self.hooks.resume(entries)


def _group_name(arn: str) -> str:
    parts = arn.split("/")
    return parts[-2] if len(parts) >= 3 else arn


def _when(value: Any) -> dt.datetime:
    return dt.datetime.fromisoformat(value) if isinstance(value, str) else value
