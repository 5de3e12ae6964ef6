"""Gates: CloudWatch alarms halt a wave; freezes (blackouts, Change Calendars) keep a window
from starting; an emergency overrides a freeze only when told why. On the simulator and
through the AWS adapter against the emulator (botocore validates every request)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from patchwave.cli import app
from patchwave.config import load_config
from patchwave.errors import ConfigError
from patchwave.sim.emulator import emulated_aws_fleet
from patchwave.sim.fleet import SimulatedFleet
from patchwave.window.gates import freeze_at
from patchwave.window.outcomes import Outcome
from patchwave.window.runner import WaveRunner, WaveSettings
from tests.helpers import START, group, ids, plan_for, spec, window, world

MEMBERS = ids("9a", 30)
FIRES = 20  # minutes after the fleet's start
ALARM_AT = START + dt.timedelta(minutes=FIRES)


def alarmed_world(config, **alarms):
    return world(
        spec(
            [group("a", MEMBERS)],
            install_minutes={"median": 8, "p99": 12},
            alarms=alarms or {"api-5xx": {"fire_at_minutes": FIRES}},
        ),
        config.baselines,
    )


def run_alarmed_wave(fleet, sim: SimulatedFleet, clock, names=("api-5xx",)):
    win = window([{"name": "only", "max_concurrency": "5", "max_errors": "0", "alarms": list(names)}])
    (wave,) = plan_for(sim, win).waves
    settings = WaveSettings("snap", "run", alarms=(("only", tuple(names)),))
    return WaveRunner(fleet, clock, wave, settings).run()


def check_halted_by_alarm(result, sim: SimulatedFleet) -> None:
    assert result.status == "halted"
    assert result.stop_reason == "alarm 'api-5xx' is in ALARM"
    got = {r.instance_id: r for r in result.results}
    started = [m for m in MEMBERS if m in sim._first_install]  # noqa: SLF001
    # nothing started after the alarm (the runner looks before every start)
    assert 5 < len(started) < len(MEMBERS)
    assert all(sim.first_install_sent(m) < ALARM_AT for m in started)
    # every started instance finished (patched before the alarm, or stopped by SSM's
    # AlarmConfiguration: cancelled), the others were never touched
    assert {got[m].outcome for m in started} <= {Outcome.PATCHED, Outcome.CANCELLED}
    assert Outcome.CANCELLED in {got[m].outcome for m in started}
    for member in set(MEMBERS) - set(started):
        assert got[member].outcome == Outcome.NOT_ATTEMPTED
        assert "alarm 'api-5xx' is in ALARM" in got[member].error
        assert member not in sim.touched
    assert all(c.alarm == "api-5xx" for c in sim.sent if c.operation == "Install")


def test_an_alarm_halts_a_wave_midway_on_the_simulator(config) -> None:
    sim, clock = alarmed_world(config)
    result = run_alarmed_wave(sim, sim, clock)
    check_halted_by_alarm(result, sim)
    assert sim.api_calls()["DescribeAlarms"] >= 2


def test_an_alarm_halts_a_wave_midway_through_the_aws_adapter(config) -> None:
    sim, clock = alarmed_world(config)
    adapter, emulator = emulated_aws_fleet(sim)
    result = run_alarmed_wave(adapter, sim, clock)
    check_halted_by_alarm(result, sim)  # the emulator built sim.sent from SendCommand's AlarmConfiguration
    assert "DescribeAlarms" in emulator.calls
    assert "cloudwatch:DescribeAlarms" in adapter.clients.counter.actions


def test_send_command_carries_the_waves_first_alarm_as_botocore_validates_it(config) -> None:
    sim, clock = alarmed_world(config, **{"db-latency": {}, "api-5xx": {"fire_at_minutes": FIRES}})
    adapter, _ = emulated_aws_fleet(sim)
    seen: list[dict] = []

    def capture(params, **_):
        seen.append(params)

    # botocore validates after this hook: a request it refuses never reaches the emulator
    adapter.clients.session.events.register("before-parameter-build.ssm.SendCommand", capture)
    win = window([{"name": "only", "max_concurrency": "5", "alarms": ["db-latency"]}], alarms=["api-5xx"])
    from flows.patch_window import settings_for

    settings = settings_for(win, "snap", "run", START + dt.timedelta(hours=3))
    (wave,) = plan_for(sim, win).waves
    result = WaveRunner(adapter, clock, wave, settings).run()
    assert result.stop_reason == "alarm 'api-5xx' is in ALARM"  # the window's alarm is watched too
    installs = [p for p in seen if p["Parameters"]["Operation"] == ["Install"]]
    assert installs and all(
        p["AlarmConfiguration"] == {"Alarms": [{"Name": "db-latency"}], "IgnorePollAlarmFailure": False}
        for p in installs
    )
    scans = [p for p in seen if p["Parameters"]["Operation"] == ["Scan"]]
    assert all("AlarmConfiguration" not in p for p in scans)


def test_an_alarm_that_does_not_exist_halts_before_anything_starts(config) -> None:
    sim, clock = alarmed_world(config)
    result = run_alarmed_wave(sim, sim, clock, names=("api-5xx", "no-such-alarm"))
    assert result.status == "halted"
    assert "alarm 'no-such-alarm' does not exist" in result.stop_reason
    assert not sim.sent and {r.outcome for r in result.results} == {Outcome.NOT_ATTEMPTED}


def test_an_alarm_that_cleared_before_the_wave_does_not_halt_it(config) -> None:
    sim, clock = alarmed_world(config, **{"api-5xx": {"fire_at_minutes": 0, "clear_at_minutes": 1}})
    clock.sleep(120)
    result = run_alarmed_wave(sim, sim, clock)
    assert result.status == "completed" and result.counts == {"patched": len(MEMBERS)}


def test_describe_alarms_asks_for_composites_and_chunks_by_100(config) -> None:
    names = [f"alarm-{n:03d}" for n in range(150)]
    alarms = {n: {} for n in names} | {"alarm-149": {"fire_at_minutes": 0, "composite": True}}
    sim, _ = alarmed_world(config, **alarms)
    adapter, emulator = emulated_aws_fleet(sim)
    states = adapter.alarm_states(names)
    assert states["alarm-149"] == "ALARM" and states["alarm-000"] == "OK" and len(states) == 150
    assert emulator.calls.count("DescribeAlarms") == 2  # chunks of 100 names, pages of 100
    assert sim.alarm_states(names) == states



def test_the_alarm_reads_against_moto(aws_env) -> None:
    """moto's CloudWatch keeps alarms and their state (SetAlarmState): the adapter's
    DescribeAlarms (metric and composite types, chunked) reads them as a real account would,
    and an alarm that does not exist is simply absent (the gate halts on that)."""
    import boto3
    from moto import mock_aws

    from patchwave.aws.fleet import AwsFleet
    from patchwave.aws.session import AwsClients
    from patchwave.config.aws import AwsSettings

    with mock_aws():
        cloudwatch = boto3.client("cloudwatch", region_name="eu-west-1")
        for name in ("api-5xx", "latency"):
            cloudwatch.put_metric_alarm(
                AlarmName=name,
                MetricName="HTTPCode_Target_5XX_Count",
                Namespace="AWS/ApplicationELB",
                Statistic="Sum",
                Period=60,
                EvaluationPeriods=1,
                Threshold=10,
                ComparisonOperator="GreaterThanThreshold",
            )
        cloudwatch.set_alarm_state(AlarmName="api-5xx", StateValue="ALARM", StateReason="5xx burst")
        session = boto3.Session(region_name="eu-west-1")
        adapter = AwsFleet(AwsClients(session), AwsSettings(region="eu-west-1"))
        states = adapter.alarm_states(["api-5xx", "latency", "no-such-alarm"])
    assert set(states) == {"api-5xx", "latency"}  # the missing one is absent, not guessed
    assert states["api-5xx"] == "ALARM"
    assert states["latency"] in ("OK", "INSUFFICIENT_DATA")  # moto starts OK, AWS INSUFFICIENT_DATA


# ----------------------------------------------------------------- freezes
CALENDARS = {
    "change-freeze": {"events": [{"start": "2026-11-29T00:00:00Z", "end": "2026-11-30T00:00:00Z"}]},
    "release-days": {
        "type": "DEFAULT_CLOSED",
        "events": [{"start": "2026-11-29T01:00:00Z", "end": "2026-11-29T02:30:00Z"}],
    },
}


def freezes(**data):
    from patchwave.config.gates import Freezes

    return Freezes.model_validate(data)


@pytest.mark.parametrize("through", ["sim", "aws"])
def test_freeze_reads_blackouts_then_calendars(config, through: str) -> None:
    sim, _ = world(spec([group("a", MEMBERS[:2])], calendars=CALENDARS), config.baselines)
    fleet = emulated_aws_fleet(sim)[0] if through == "aws" else sim
    paris = freezes(
        blackouts=[{"start": "2026-12-24", "end": "2026-12-26", "timezone": "Europe/Paris", "reason": "Xmas"}]
    )
    inside = dt.datetime(2026, 12, 23, 23, 30, tzinfo=dt.UTC)  # 00:30 on the 24th in Paris
    status = freeze_at(fleet, [paris], inside)
    assert (
        status.frozen and "blackout 2026-12-24 00:00 to 2026-12-27 00:00 Europe/Paris (Xmas)" in status.reason
    )
    assert not freeze_at(fleet, [paris], dt.datetime(2026, 12, 26, 23, 30, tzinfo=dt.UTC)).frozen
    calls_before = dict(fleet.api_calls())
    later = freeze_at(fleet, [freezes(change_calendars=["change-freeze"])], inside)
    assert not later.frozen and later.calendars == ("change-freeze",)  # open after its event
    frozen = freeze_at(fleet, [freezes(change_calendars=["change-freeze"])], START)
    assert frozen.frozen and "Change Calendar 'change-freeze' is CLOSED" in frozen.reason
    opened = freeze_at(fleet, [freezes(change_calendars=["release-days"])], START)  # 02:00, an open event
    assert not opened.frozen
    shut = freeze_at(fleet, [freezes(change_calendars=["release-days"])], START + dt.timedelta(hours=1))
    assert shut.frozen and "'release-days' is CLOSED" in shut.reason
    unknown = freeze_at(fleet, [freezes(change_calendars=["no-such-calendar"])], START)
    assert unknown.frozen and "could not be read" in unknown.reason
    assert fleet.api_calls()["GetCalendarState"] - calls_before.get("GetCalendarState", 0) == 5
    blackout_only = dict(fleet.api_calls())
    freeze_at(fleet, [paris, freezes(change_calendars=["change-freeze"])], inside)
    assert fleet.api_calls() == blackout_only  # a blackout refuses without any call


@pytest.mark.parametrize(
    ("snippet", "needle"),
    [
        ({"freezes": {"blackouts": [{"start": "2026-12-24", "end": "2026-12-20"}]}}, "is not after start"),
        (
            {"freezes": {"blackouts": [{"start": "2026-13-01", "end": "2026-12-20"}]}},
            "'2026-13-01' is not a date",
        ),
        (
            {
                "freezes": {
                    "blackouts": [{"start": "2026-12-01", "end": "2026-12-02", "timezone": "Mars/Olympus"}]
                }
            },
            "not an IANA time zone",
        ),
        ({"freezes": {"blackout": []}}, "blackout"),
        ({"freezes": {"change_calendars": ["no spaces please"]}}, "not a Change Calendar"),
        ({"alarms": ["   "]}, "not a CloudWatch alarm name"),
        ({"alarms": ["a", "a"]}, "listed twice"),
    ],
)
def test_bad_gate_config_is_one_line_naming_file_field_and_value(
    tmp_path: Path, config, snippet, needle
) -> None:
    data = yaml.safe_load((Path("config") / "windows.yaml").read_text())
    data["windows"][0].update(snippet)
    (tmp_path / "windows.yaml").write_text(yaml.safe_dump(data))
    (tmp_path / "baselines.yaml").write_text(yaml.safe_dump(config.baselines.model_dump(mode="json")))
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path)
    message = str(caught.value)
    assert "\n" not in message and "windows.yaml" in message and needle in message, message
    field = next(iter(snippet))
    assert f"windows[0].{field}" in message, message


# ----------------------------------------------------------------- flows and the CLI
def write_world(tmp_path: Path, config, windows_data: dict) -> tuple[Path, Path]:
    folder = tmp_path / "config"
    folder.mkdir(exist_ok=True)
    (folder / "baselines.yaml").write_text(yaml.safe_dump(config.baselines.model_dump(mode="json")))
    (folder / "windows.yaml").write_text(yaml.safe_dump(windows_data))
    fleet = spec([group("a", MEMBERS[:6])], calendars=CALENDARS).model_dump(mode="json")
    fleet["state_file"] = str(tmp_path / "fleet.state")
    fleet_file = tmp_path / "fleet.yaml"
    fleet_file.write_text(yaml.safe_dump(fleet))
    return folder, fleet_file


WINDOW = {
    "name": "nightly",
    "schedule": {"cron": "0 3 * * *"},
    "targets": {"tags": {"Workload": ["Test"]}},
    "waves": [{"name": "all", "max_concurrency": "50%", "alarms": ["api-5xx"]}],
}


def run_nightly(tmp_path: Path, folder: Path, fleet_file: Path):
    """Window nightly as its schedule would start it: the patch-window flow, for real."""
    from flows.patch_window import patch_window

    return patch_window(
        window="nightly",
        config_dir=str(folder),
        fleet=f"sim:{fleet_file}",
        report_dir=str(tmp_path / "r"),
        speed=0,
        return_state=True,
    )


@pytest.mark.usefixtures("prefect_harness")
def test_a_window_during_a_freeze_ends_cancelled_with_no_command_sent(config, tmp_path: Path) -> None:
    from prefect.client.orchestration import get_client

    frozen = dict(WINDOW, freezes={"change_calendars": ["change-freeze"]})
    folder, fleet_file = write_world(tmp_path, config, {"windows": [frozen]})
    state = run_nightly(tmp_path, folder, fleet_file)
    assert state.is_cancelled()
    assert (
        state.message == "window nightly not started: frozen at 2026-11-29 02:00 UTC: "
        "Change Calendar 'change-freeze' is CLOSED"
    )
    with get_client(sync_client=True) as client:  # as Prefect recorded it
        run = client.read_flow_run(state.state_details.flow_run_id)
    assert run.state.is_cancelled() and run.state.message == state.message
    sim = SimulatedFleet.load(tmp_path / "fleet.state")
    assert not sim.sent and not sim.touched  # nothing was sent, nothing listed
    assert not list((tmp_path / "r").glob("*.json"))
    by_hand = CliRunner().invoke(  # `patchwave run` during the freeze: one line, exit 2
        app,
        [
            "run",
            "--window",
            "nightly",
            "--config",
            str(folder),
            "--fleet",
            f"sim:{fleet_file}",
            "--report-dir",
            str(tmp_path / "r"),
            "--speed",
            "0",
        ],
    )
    assert by_hand.exit_code == 2, by_hand.output
    (line,) = [x for x in by_hand.output.splitlines() if x.startswith("error:")]
    assert line == f"error: {state.message}"
    assert not SimulatedFleet.load(tmp_path / "fleet.state").sent
    # a global blackout refuses the same way, without even the calendar check
    blacked = {
        "freezes": {"blackouts": [{"start": "2026-11-28", "end": "2026-11-29", "reason": "audit"}]},
        "windows": [WINDOW],
    }
    folder, fleet_file = write_world(tmp_path, config, blacked)
    state = run_nightly(tmp_path, folder, fleet_file)
    assert (
        state.is_cancelled() and "blackout 2026-11-28 00:00 to 2026-11-30 00:00 UTC (audit)" in state.message
    )


def emergency(tmp_path: Path, folder: Path, fleet_file: Path, *extra: str):
    common = ["--config", str(folder), "--fleet", f"sim:{fleet_file}", "--report-dir", str(tmp_path / "r")]
    return CliRunner().invoke(
        app,
        [
            "emergency",
            "--reason",
            "openssl CVE",
            "--tag",
            "Workload=Test",
            "--no-canary",
            "--max-concurrency",
            "100%",
            *extra,
            *common,
            "--speed",
            "0",
        ],
    )


@pytest.mark.usefixtures("prefect_harness")
def test_an_emergency_in_a_freeze_needs_override_freeze_and_the_report_says_so(
    config, tmp_path: Path
) -> None:
    data = {"freezes": {"change_calendars": ["change-freeze"]}, "windows": [WINDOW]}
    folder, fleet_file = write_world(tmp_path, config, data)
    refused = emergency(tmp_path, folder, fleet_file)
    assert refused.exit_code == 2, refused.output
    (line,) = [x for x in refused.output.splitlines() if x.startswith("error:")]
    assert line == (
        "error: emergency not started: frozen at 2026-11-29 02:00 UTC: Change Calendar 'change-freeze' "
        "is CLOSED; --override-freeze REASON runs it anyway"
    )
    assert not SimulatedFleet.load(tmp_path / "fleet.state").sent
    too_short = emergency(tmp_path, folder, fleet_file, "--override-freeze", "x")
    assert too_short.exit_code == 2 and "override_freeze" in too_short.output
    done = emergency(tmp_path, folder, fleet_file, "--override-freeze", "exploited in the wild")
    assert done.exit_code == 0, done.output
    report = json.loads(next((tmp_path / "r").glob("emergency-*.json")).read_text())
    assert report["freeze_override"] == (
        "frozen at 2026-11-29 02:00 UTC: Change Calendar 'change-freeze' is CLOSED; "
        "overridden: exploited in the wild"
    )
    assert report["totals"]["patched"] == 6
    markdown = next((tmp_path / "r").glob("emergency-*.md")).read_text()
    assert "freeze overridden:" in markdown


def test_plan_shows_the_alarms_per_wave_and_the_freeze_at_the_planned_start(config, tmp_path: Path) -> None:
    data = {"freezes": {"change_calendars": ["change-freeze"]}, "windows": [dict(WINDOW, alarms=["db"])]}
    folder, fleet_file = write_world(tmp_path, config, data)
    common = ["--config", str(folder), "--fleet", f"sim:{fleet_file}"]
    shown = CliRunner().invoke(app, ["plan", "--window", "nightly", *common], env={"COLUMNS": "200"})
    assert shown.exit_code == 0, shown.output
    assert "wave all: alarms watched: api-5xx, db" in shown.output
    assert (
        "freeze: FROZEN at the planned start (2026-11-29T03:00:00+00:00): frozen at 2026-11-29 03:00 UTC: "
        "Change Calendar 'change-freeze' is CLOSED" in shown.output
    )
    as_json = CliRunner().invoke(app, ["plan", "--window", "nightly", "--json", *common])
    gates = json.loads(as_json.output)["gates"]
    assert gates["frozen"] and gates["alarms"] == {"all": ["api-5xx", "db"]}


@pytest.mark.usefixtures("prefect_harness")
@pytest.mark.parametrize("through", ["sim", "aws"])
def test_an_alarm_halts_the_window_and_its_report_says_which(config, tmp_path: Path, through: str) -> None:
    from prefect import flow

    from flows.patch_window import final_state, run_window
    from patchwave.connect import FleetHandle

    sim, clock = alarmed_world(config)
    fleet = emulated_aws_fleet(sim)[0] if through == "aws" else sim
    win = window(
        [
            {"name": "first", "select": {"count": 20}, "max_concurrency": "5", "max_errors": "1"},
            {"name": "second", "max_concurrency": "5"},
        ],
        alarms=["api-5xx"],
    )

    @flow(name="patch-window-gated")
    def gated():
        report = run_window(FleetHandle(fleet, clock, through), win, report_dir=str(tmp_path / through))
        return final_state(report)

    state = gated(return_state=True)
    assert state.is_failed()
    report = json.loads(next((tmp_path / through).glob("test-window-*.json")).read_text())
    assert report["status"] == "halted"
    assert report["stop_reason"] == "wave 'first' halted: alarm 'api-5xx' is in ALARM"
    first, second = report["waves"]
    assert first["status"] == "halted" and second["status"] == "not_attempted"
    assert "alarm 'api-5xx' is in ALARM" in second["stop_reason"]
    installed = [i for i in report["instances"] if i["outcome"] in ("patched", "cancelled")]
    assert installed and all(sim.first_install_sent(i["instance_id"]) < ALARM_AT for i in installed)
    assert "alarm 'api-5xx'" in state.message


def test_a_resumed_wave_keeps_its_alarm_halt_even_once_the_alarm_cleared(config) -> None:
    sim, clock = alarmed_world(
        config, **{"api-5xx": {"fire_at_minutes": FIRES, "clear_at_minutes": FIRES + 5}}
    )
    win = window([{"name": "only", "max_concurrency": "5", "alarms": ["api-5xx"]}])
    (wave,) = plan_for(sim, win).waves
    settings = WaveSettings("snap", "run", alarms=(("only", ("api-5xx",)),))
    entries: list[dict] = []

    def record(kind: str, **data) -> None:  # as the ledger keeps them: JSON
        entries.append(json.loads(json.dumps({"kind": kind, **data}, default=dt.datetime.isoformat)))

    WaveRunner(sim, clock, wave, settings, record=record).run()
    assert any(e["kind"] == "halt" and e["reason"] == "alarm 'api-5xx' is in ALARM" for e in entries)
    clock.sleep(3600)  # the alarm is OK again
    sent = len(sim.sent)
    again = WaveRunner(sim, clock, wave, settings, resume=entries).run()
    assert again.status == "halted" and again.stop_reason == "alarm 'api-5xx' is in ALARM"
    assert len(sim.sent) == sent
