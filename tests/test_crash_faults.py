"""Each fault of issue 11 done for real: a torn and a garbled ledger, a damaged middle line, a
resume past the cutoff, a SIGKILLed lease holder. (The kills at every step are in
test_crash_campaign.py; hostile input in test_fuzz_hostile.py.)"""

from __future__ import annotations

import datetime as dt
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from patchwave.cli import app
from patchwave.sim import state_file
from patchwave.state.ledger import Ledger, LedgerDamaged, peek
from patchwave.state.sqlite_leases import SqliteLeases
from patchwave.window.runner import WaveRunner, WaveSettings
from tests.crash_campaign import KILLED, Scenario, api_url, baselines, evidence, fresh, outcomes
from tests.helpers import group, ids, plan_for, spec, window, world, write_config

__all__ = ["api_url", "baselines"]  # fixtures
runner = CliRunner()


def _ledger(path: Path, count: int) -> Ledger:
    ledger = Ledger(path)
    for index in range(count):
        ledger.append("outcome", instance_id=f"i-{index}", outcome="patched")
    ledger.close()
    return ledger


def test_a_torn_tail_is_set_aside_and_the_ledger_truncated_before_appending(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "run.jsonl"
    _ledger(path, 3)
    whole = path.read_bytes()
    with path.open("ab") as handle:  # power loss mid-write: half a line, then invalid UTF-8
        handle.write(whole.splitlines(keepends=True)[1][:25] + b"\xff\xfe")
    ledger = Ledger(path)
    assert [e["instance_id"] for e in ledger.entries()] == ["i-0", "i-1", "i-2"]
    assert [r.message for r in caplog.records if "set aside" in r.message]  # one warning line
    assert path.read_bytes() == whole  # truncated to its last good line
    assert ledger.set_aside is not None and ledger.set_aside.read_bytes().endswith(b"\xff\xfe")
    ledger.append("outcome", instance_id="i-3", outcome="patched")
    ledger.close()
    assert [e["instance_id"] for e in Ledger(path).entries()] == ["i-0", "i-1", "i-2", "i-3"]


def test_a_garbled_tail_line_with_a_wrong_checksum_is_not_read_as_data(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    _ledger(path, 2)
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(lines[0] + lines[1].replace(b"patched", b"failed_"))  # bit rot, still JSON
    assert [e["instance_id"] for e in Ledger(path).entries()] == ["i-0"]


def test_a_damaged_middle_line_is_refused_naming_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    _ledger(path, 4)
    lines = path.read_bytes().splitlines(keepends=True)
    lines[1] = lines[1][:10] + b"\x80garbage\n"
    path.write_bytes(b"".join(lines))
    with pytest.raises(LedgerDamaged, match=rf"{path}: line 2: damaged"):
        Ledger(path).entries()


def test_resume_of_a_damaged_ledger_exits_2_with_one_line(tmp_path: Path, config: Any) -> None:
    import yaml

    folder = write_config(tmp_path / "config", config.baselines, window([{"name": "all"}]))
    (tmp_path / "fleet.yaml").write_text(
        yaml.safe_dump(spec([group("a", ids("e1", 2))]).model_dump(mode="json"))
    )
    reports = tmp_path / "reports"
    ledger = Ledger(reports / ".runs" / "run-1.jsonl")
    ledger.append("start", started=dt.datetime.now(dt.UTC), snapshot_id="s", window="test-window")
    ledger.append("plan", plan={}, before={})
    ledger.append("wave_done", wave="all", result={})
    ledger.close()
    data = ledger.path.read_bytes().splitlines(keepends=True)
    ledger.path.write_bytes(data[0] + b"\xc3\x28 torn\n" + data[2])
    result = runner.invoke(
        app,
        [
            "run",
            "-w",
            "test-window",
            "-c",
            str(folder),
            "-f",
            f"sim:{tmp_path / 'fleet.yaml'}",
            "--report-dir",
            str(reports),
            "--resume",
            "run-1",
        ],
        env={"COLUMNS": "2000"},
    )
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and f"{ledger.path}: line 2" in lines[0], result.output


def test_sigkill_then_torn_tail_then_resume_starts_nothing_twice(
    tmp_path: Path, baselines: dict[str, Any], api_url: str
) -> None:
    scenario = Scenario(
        "torn",
        [{"name": "all", "max_concurrency": "2", "max_errors": "100%"}],
        ids("e2", 4),
        {},
        {"install_minutes": {"median": 8, "p99": 12}},
    )
    run = fresh(tmp_path, scenario, "torn", baselines)
    first = run.child(0, api_url=api_url, log="probe")
    steps = run.steps("probe")
    kill_at = [i + 1 for i, s in enumerate(steps) if s == "ledger outcome"][0]
    run = fresh(tmp_path, scenario, "killed", baselines)
    assert run.child(kill_at, api_url=api_url).returncode == KILLED
    run_id = run.run_id()
    assert run_id is not None
    path = run.reports / ".runs" / f"{run_id}.jsonl"
    good = len(peek(path))
    with path.open("ab") as handle:  # the line being written when the power went
        handle.write(b'1a2b3c4d {"kind": "send", "wave": "all", "comm\xe2\x82')
    resumed = run.child(0, resume=run_id, api_url=api_url, log="resume")
    assert resumed.returncode == first.returncode, resumed.stderr[-2000:]
    assert "Traceback" not in resumed.stderr
    assert [line for line in resumed.stderr.splitlines() if "set aside" in line]
    assert (path.parent / f"{path.name}.torn-1").exists()
    assert len(Ledger(path).entries()) > good  # appended after the last good line, all readable
    installs, _ = evidence(run.fleet(), scenario.members)
    assert installs == dict.fromkeys(scenario.members, 1)
    assert sorted(outcomes(run.report())) == sorted(scenario.members)


def test_resume_past_the_cutoff_keeps_what_the_ledger_recorded(
    tmp_path: Path, baselines: dict[str, Any], api_url: str
) -> None:
    members = ids("e3", 6)
    scenario = Scenario(
        "cutoff",
        [{"name": "all", "max_concurrency": "2", "max_errors": "100%"}],
        members,
        {"duration_hours": 2, "cutoff_hours": 1},
        {"install_minutes": {"median": 20, "p99": 25}, "reboot_rate": 0.0},
    )
    run = fresh(tmp_path, scenario, "cut", baselines)
    probe = fresh(tmp_path, scenario, "probe", baselines)
    probe.child(0, api_url=api_url)
    steps = probe.steps()
    kill_at = [i + 1 for i, s in enumerate(steps) if s == "ledger outcome"][1]  # two done, more running
    assert run.child(kill_at, api_url=api_url).returncode == KILLED
    run_id = run.run_id()
    assert run_id is not None
    before = peek(run.reports / ".runs" / f"{run_id}.jsonl")
    recorded = {e["instance_id"]: e["outcome"] for e in before if e["kind"] == "outcome"}
    sent = {m for e in before if e["kind"] == "send" and e["operation"] == "Install" for m in e["members"]}
    fleet = run.fleet()  # the operator comes back two hours later: past the cutoff
    fleet.clock.sleep(2 * 3600)
    fleet.save()
    state_file.release(run.state_file)  # this test process is done writing it
    installs_before, _ = evidence(run.fleet(), members)
    resumed = run.child(0, resume=run_id, api_url=api_url, log="resume")
    assert resumed.returncode == 1, resumed.stderr[-2000:]  # cut off
    report = run.report()
    got = outcomes(report)
    assert {i: got[i] for i in recorded} == recorded  # recorded outcomes stand
    assert all(got[i] != "not_attempted" for i in sent)  # sent installs were polled to their end
    assert evidence(run.fleet(), members)[0] == installs_before  # nothing started after the cutoff
    assert report["status"] == "cut_off"


CHILD = """
import datetime as dt, sys, time
from pathlib import Path
from patchwave.state.sqlite_leases import SqliteLeases
leases = SqliteLeases(Path(sys.argv[1]))
now = dt.datetime.fromisoformat(sys.argv[2])
leases.acquire("dead-run", sys.argv[3].split(","), now, now + dt.timedelta(minutes=200))
print("holding", flush=True)
time.sleep(600)
"""


def test_a_sigkilled_holders_leases_are_taken_over_after_the_staleness(tmp_path: Path, config: Any) -> None:
    members = ids("e4", 3)
    fleet, clock = world(
        spec([group("a", members)], install_minutes={"median": 5, "p99": 6}), config.baselines
    )
    db = tmp_path / "leases.sqlite"
    holder = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(db), clock.now().isoformat(), ",".join(members)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
    leases = SqliteLeases(db, stale_after=dt.timedelta(minutes=10))
    assert [h.run_id for h in leases.list_holders()] == ["dead-run"]
    win = window([{"name": "all", "max_concurrency": "3"}], overlap_wait_minutes=30)
    (wave,) = plan_for(fleet, win).waves
    began = clock.now()
    settings = WaveSettings(snapshot_id="snap", run_id="next-run", overlap_wait=dt.timedelta(minutes=30))
    result = WaveRunner(fleet, clock, wave, settings, leases=leases).run()
    assert result.counts == {"patched": 3}, [r.error for r in result.results]  # not not_attempted
    first = min(fleet.first_install_sent(i) for i in members)
    assert dt.timedelta(minutes=10) <= first - began < dt.timedelta(minutes=12)  # after the staleness


def test_leases_list_and_release_ask_first(tmp_path: Path) -> None:
    db = tmp_path / "leases.sqlite"
    leases = SqliteLeases(db)
    now = dt.datetime.now(dt.UTC)
    leases.acquire("run-a", ["i-1", "i-2"], now, now + dt.timedelta(hours=1))
    listed = runner.invoke(app, ["leases", "list", "--db", str(db)], env={"COLUMNS": "200"})
    assert listed.exit_code == 0 and "run-a" in listed.output and "live" in listed.output, listed.output
    refused = runner.invoke(app, ["leases", "release", "--run", "run-a", "--db", str(db)], input="n\n")
    assert refused.exit_code == 1 and leases.holders(["i-1"], now) == {"i-1": "run-a"}
    freed = runner.invoke(app, ["leases", "release", "--run", "run-a", "--db", str(db), "--yes"])
    assert freed.exit_code == 0 and "released 2" in freed.output
    assert leases.holders(["i-1", "i-2"], now) == {}
    bad = runner.invoke(app, ["leases", "release", "--run", "../x", "--db", str(db), "--yes"])
    assert bad.exit_code == 2


@pytest.mark.parametrize("through", ["sim", "aws"])
@pytest.mark.parametrize("was_sent", [True, False])
def test_an_intent_without_its_send_is_looked_up_by_its_comment(
    through: str, was_sent: bool, config: Any
) -> None:
    """The state a kill between the intent's fsync and the send's ledger line leaves: the
    resumed wave asks the fleet (ListCommands by Comment, through boto3 on the emulator) and
    adopts the command, or sends it once when the fleet certainly does not have it."""
    from patchwave.fleet import PatchCommand
    from patchwave.sim.emulator import emulated_aws_fleet

    members = ids("e5", 2)
    sim, clock = world(spec([group("a", members)], install_minutes={"median": 5, "p99": 6}), config.baselines)
    (wave,) = plan_for(sim, window([{"name": "all", "max_concurrency": "2"}])).waves
    fleet: Any = emulated_aws_fleet(sim)[0] if through == "aws" else sim
    command = PatchCommand(
        tuple(members), "Install", "RebootIfNeeded", "snap", "run-9", token="0123456789abcdef"
    )
    intent = {"token": command.token, "comment": command.comment, "operation": "Install"}
    entries = [
        {
            "kind": "intents",
            "wave": "all",
            "deadline": (clock.now() + dt.timedelta(hours=3)).isoformat(),
            "commands": [{**intent, "members": members, "at": clock.now().isoformat()}],
        }
    ]
    if was_sent:
        fleet.send_patch_command(command)  # sent; the process died before writing so
    recorded: list[dict[str, Any]] = []
    result = WaveRunner(
        fleet,
        clock,
        wave,
        WaveSettings(snapshot_id="snap", run_id="run-9"),
        record=lambda kind, **data: recorded.append({"kind": kind, **data}),
        resume=entries,
    ).run()
    installs = [c for c in sim.sent if c.operation == "Install"]
    assert len(installs) == 1 and sorted(installs[0].instance_ids) == sorted(members)
    assert result.counts == {"patched": 2}
    adopted = [e for e in recorded if e["kind"] == "send" and e.get("token") == command.token]
    assert bool(adopted) == was_sent  # adopted and recorded, so the next resume need not ask
