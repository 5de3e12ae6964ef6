"""The wave runner: every rate-control rule, every outcome, and the safety invariants."""

from __future__ import annotations

import datetime as dt

from patchwave.window.outcomes import Outcome
from patchwave.window.planning import WavePlan
from patchwave.window.runner import WaveResult, WaveRunner, WaveSettings
from tests.helpers import group, ids, plan_for, spec, window, world
from tests.invariants import install_starts, max_concurrent_installs


def run_one_wave(
    config, instance_ids, *, max_concurrency="1", max_errors="0", extra_groups=(), settings=None, **behaviour
) -> tuple[WaveResult, object, WavePlan]:
    fleet, clock = world(spec([group("a", instance_ids), *extra_groups], **behaviour), config.baselines)
    win = window([{"name": "only", "max_concurrency": max_concurrency, "max_errors": max_errors}])
    (wave,) = plan_for(fleet, win).waves
    settings = settings or WaveSettings(snapshot_id="snap-1", run_id="run-1")
    result = WaveRunner(fleet, clock, wave, settings).run()
    return result, fleet, wave


def outcomes(result: WaveResult) -> dict[str, Outcome]:
    return {r.instance_id: r.outcome for r in result.results}


def test_max_errors_zero_halts_at_the_first_error(config) -> None:
    members = ids("a1", 10)
    result, fleet, _ = run_one_wave(config, members, failing_ids=[members[1]])
    got = outcomes(result)
    assert result.status == "halted"
    assert got[members[0]] == Outcome.PATCHED
    assert got[members[1]] == Outcome.FAILED_INSTALL
    assert all(got[m] == Outcome.NOT_ATTEMPTED for m in members[2:])
    assert set(install_starts(fleet)) == set(members[:2])  # nothing started after the error


def test_percentage_threshold_tolerates_floor_and_halts_on_the_next(config) -> None:
    members = ids("a2", 20)
    failing = members[1:4]
    result, fleet, _ = run_one_wave(config, members, max_errors="10%", failing_ids=failing)
    assert result.max_errors == 2  # 10% of 20
    assert result.status == "halted" and result.errors == 3
    assert set(install_starts(fleet)) == set(members[:4])
    assert sum(o == Outcome.NOT_ATTEMPTED for o in outcomes(result).values()) == 16


def test_errors_at_the_threshold_do_not_halt(config) -> None:
    members = ids("a3", 20)
    result, _, _ = run_one_wave(config, members, max_errors="10%", failing_ids=members[1:3])
    assert result.status == "completed" and result.errors == 2
    assert sum(o == Outcome.PATCHED for o in outcomes(result).values()) == 18


def test_in_flight_instances_finish_after_a_halt(config) -> None:
    members = ids("a4", 12)
    durations = {m: 30.0 for m in members}
    durations[members[0]] = 1.0  # fails first, while four others are still installing
    result, fleet, _ = run_one_wave(
        config, members, max_concurrency="5", failing_ids=[members[0]], install_minutes_by_id=durations
    )
    got = outcomes(result)
    assert result.status == "halted"
    assert [got[m] for m in members[1:5]] == [Outcome.PATCHED] * 4
    assert all(got[m] == Outcome.NOT_ATTEMPTED for m in members[5:])
    assert set(install_starts(fleet)) == set(members[:5])


def test_sliding_window_never_exceeds_concurrency_and_does_not_wait_for_the_slowest(config) -> None:
    members = ids("a5", 40)
    durations = {m: (5.0 if i % 4 else 60.0) for i, m in enumerate(members)}
    result, fleet, _ = run_one_wave(
        config, members, max_concurrency="4", max_errors="100%", install_minutes_by_id=durations
    )
    assert all(o == Outcome.PATCHED for o in outcomes(result).values())
    assert max_concurrent_installs(fleet, members) <= 4
    assert result.peak_in_flight == 4
    starts = install_starts(fleet)
    first_slow_end = min(
        inv.end for inv in fleet.invocations() if inv.instance_id == members[0] and inv.operation == "Install"
    )
    # lock-step batches would start nothing new before the first batch's slowest (60 min) ends
    assert sum(1 for m in members if starts[m][0] < first_slow_end) > 4


def test_percent_concurrency_rounds_up(config) -> None:
    members = ids("a6", 9)
    result, fleet, _ = run_one_wave(config, members, max_concurrency="25%", max_errors="100%")
    assert result.max_concurrency == 3
    assert max_concurrent_installs(fleet, members) <= 3


def test_stuck_agent_is_timed_out_cancelled_and_counted(config) -> None:
    members = ids("a7", 3)
    settings = WaveSettings(
        snapshot_id="s",
        run_id="r",
        install_timeout=dt.timedelta(minutes=40),
        reboot_timeout=dt.timedelta(minutes=10),
    )
    result, fleet, _ = run_one_wave(
        config, members, max_concurrency="3", max_errors="1", stuck_ids=[members[0]], settings=settings
    )
    got = {r.instance_id: r for r in result.results}
    assert got[members[0]].outcome == Outcome.TIMED_OUT
    assert result.errors == 1 and result.status == "completed"
    stuck = [inv for inv in fleet.invocations() if inv.instance_id == members[0]]
    assert stuck[0].cancelled_at is not None  # patchwave cancelled it
    assert result.finished_at - result.started_at < dt.timedelta(hours=2)


def test_reboot_that_never_comes_back_is_failed_reboot(config) -> None:
    members = ids("a8", 2)
    result, _, _ = run_one_wave(
        config, members, max_concurrency="2", max_errors="1", reboot_hang_ids=[members[1]]
    )
    got = outcomes(result)
    assert got == {members[0]: Outcome.PATCHED, members[1]: Outcome.FAILED_REBOOT}


def test_health_check_failure_is_failed_verification(config) -> None:
    members = ids("a9", 2)
    result, _, _ = run_one_wave(
        config, members, max_concurrency="2", max_errors="1", health_failure_ids=[members[0]]
    )
    assert outcomes(result)[members[0]] == Outcome.FAILED_VERIFICATION
    assert result.errors == 1


def test_controlled_reboot_reboots_only_what_needs_it_with_its_own_concurrency(config) -> None:
    members = ids("b1", 6)
    settings = WaveSettings(snapshot_id="s", run_id="r", reboot="controlled", reboot_concurrency="1")
    result, fleet, _ = run_one_wave(
        config, members, max_concurrency="6", max_errors="0", settings=settings, reboot_rate=0.5
    )
    assert all(o == Outcome.PATCHED for o in outcomes(result).values())
    assert all(c.reboot_option == "NoReboot" for c in fleet.sent)
    rebooted = [iid for iid, _ in fleet.reboots]
    assert 0 < len(rebooted) < len(members)
    assert fleet.api_calls()["RebootInstances"] == len(rebooted)  # one at a time
    assert all(fleet.compliance(members)[m].compliant for m in members)


def test_never_reboot_reports_pending_reboot_and_stays_non_compliant(config) -> None:
    members = ids("b2", 3)
    settings = WaveSettings(snapshot_id="s", run_id="r", reboot="never")
    result, fleet, _ = run_one_wave(config, members, max_concurrency="3", settings=settings, reboot_rate=1.0)
    assert all(r.outcome == Outcome.PATCHED for r in result.results)
    assert all("PendingReboot" in r.status_details for r in result.results)
    assert not fleet.reboots
    assert not any(c.compliant for c in fleet.compliance(members).values())


def test_cutoff_stops_new_starts(config) -> None:
    members = ids("b3", 10)
    fleet, clock = world(
        spec([group("a", members)], install_minutes_by_id={m: 20.0 for m in members}), config.baselines
    )
    (wave,) = plan_for(fleet, window([{"name": "only", "max_concurrency": "2", "max_errors": "0"}])).waves
    settings = WaveSettings(
        snapshot_id="s", run_id="r", stop_starting_at=clock.now() + dt.timedelta(minutes=30)
    )
    result = WaveRunner(fleet, clock, wave, settings).run()
    got = outcomes(result)
    assert result.status == "cut_off"
    started = install_starts(fleet)
    assert all(s[0] <= settings.stop_starting_at for s in started.values())
    assert 2 <= len(started) < 10
    assert all(got[m] == Outcome.NOT_ATTEMPTED for m in members if m not in started)


class CancelsFromOutside:
    """A fleet wrapper: someone else cancels one instance's command mid-wave."""

    def __init__(self, fleet, victim: str) -> None:
        self._fleet, self._victim, self._done = fleet, victim, False

    def __getattr__(self, name):
        return getattr(self._fleet, name)

    def command_progress(self, command_ids):
        if not self._done:
            for inv in self._fleet.invocations():
                if inv.instance_id == self._victim and inv.operation == "Install":
                    self._fleet.cancel_command(inv.command_id, [self._victim])
                    self._done = True
        return self._fleet.command_progress(command_ids)


def test_a_command_cancelled_by_someone_else_is_cancelled(config) -> None:
    members = ids("b4", 3)
    fleet, clock = world(spec([group("a", members)]), config.baselines)
    (wave,) = plan_for(fleet, window([{"name": "only", "max_concurrency": "3"}])).waves
    result = WaveRunner(CancelsFromOutside(fleet, members[2]), clock, wave, WaveSettings("s", "r")).run()
    got = outcomes(result)
    assert got[members[2]] == Outcome.CANCELLED
    assert result.errors == 0 and result.status == "completed"


def test_offline_and_compliant_instances_are_decided_at_planning_and_never_touched(config) -> None:
    members = ids("b5", 4)
    offline, compliant = ids("b6", 1)[0], ids("b7", 1)[0]
    extra = [group("off", [offline], ping_status="ConnectionLost"), group("ok", [compliant])]
    fleet, clock = world(spec([group("a", members), *extra], missing_rate=1.0), config.baselines)
    fleet.instance(compliant).inventory.present.update(
        {pid: "INSTALLED" for pid in fleet.instance(compliant).inventory.applicable}
    )
    fleet.send_patch_command  # noqa: B018 - the scan below refreshes the compliant one's report
    from patchwave.compliance.scan import run_scan

    run_scan(fleet, clock, [compliant], snapshot_id="s", run_id="r", timeout=dt.timedelta(minutes=30))
    (wave,) = plan_for(fleet, window([{"name": "only", "max_concurrency": "4"}])).waves
    touched_before = set(fleet.touched)
    result = WaveRunner(fleet, clock, wave, WaveSettings("s", "r")).run()
    got = outcomes(result)
    assert got[offline] == Outcome.SKIPPED_OFFLINE and got[compliant] == Outcome.ALREADY_COMPLIANT
    assert fleet.touched - touched_before == set(members)
    assert len(result.results) == len(wave.members) == 6


def test_a_window_under_block_never_installs_a_rejected_patch(config) -> None:
    from patchwave.config.baselines import BaselinesFile

    data = config.baselines.model_dump()
    data["baselines"][0]["rejected_patches_action"] = "BLOCK"
    blocked = BaselinesFile.model_validate(data)
    members = ids("b8", 8)
    fleet, clock = world(
        spec([group("a", members, tags={"Patch Group": "Critical"})], missing_rate=1.0, applicable_rate=1.0),
        blocked,
    )
    (wave,) = plan_for(fleet, window([{"name": "only", "max_concurrency": "4"}])).waves
    result = WaveRunner(fleet, clock, wave, WaveSettings("s", "r")).run()
    assert all(r.outcome == Outcome.PATCHED for r in result.results)
    for member in members:
        present = fleet.instance(member).inventory.present
        assert "ALAS2023-2026-1101" in present
        assert "ALAS2023-2026-1142" not in present  # rejected system-release
        assert "ALAS2023-2026-1139" not in present  # depends on it: blocked too


def test_a_labs_pacing_verifies_early_finishers_sooner_with_the_same_outcomes(config) -> None:
    """The window's pacing reaches the runner: installs that finish while a long one still runs
    wait up to 60 s by default to share one verifying Scan, 2 s with a lab's pacing."""
    members = ids("a9", 6)
    quick = WaveSettings(
        snapshot_id="snap-1",
        run_id="run-1",
        verify_batch_wait=dt.timedelta(seconds=2),
        reboot_grace=dt.timedelta(seconds=2),
        min_poll_seconds=1,
        max_poll_seconds=5,
    )
    runs = [
        run_one_wave(
            config,
            members,
            max_concurrency="2",
            settings=settings,
            install_minutes={"median": 0.2, "p99": 0.3},
            install_minutes_by_id={members[0]: 5.0},
            scan_minutes={"median": 0.05, "p99": 0.1},
            reboot_rate=0.0,
        )
        for settings in (None, quick)
    ]
    (default, _, _), (fast, _, _) = runs
    assert outcomes(default) == outcomes(fast) and set(outcomes(fast).values()) == {Outcome.PATCHED}

    def verified_after(result: WaveResult) -> dt.timedelta:  # the slowest early finisher's
        # (members[1] shares the long one's command, so its invocation is read when that ends)
        early = [r for r in result.results if r.instance_id not in members[:2]]
        return max(r.finished_at - r.started_at for r in early if r.finished_at and r.started_at)

    assert verified_after(default) >= dt.timedelta(seconds=60)
    assert verified_after(fast) < dt.timedelta(seconds=45), verified_after(fast)
