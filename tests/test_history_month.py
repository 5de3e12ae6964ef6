"""History written by the real flows over a simulated month (weekly windows, scans between),
every figure checked against the simulator's own evidence; on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.patch_window import patch_window
from patchwave.config.history import load_history_settings
from patchwave.history.measures import compliance_trend, window_success
from patchwave.history.opening import open_store
from patchwave.history.summary import summarise_history
from tests.history_month import (
    CANARY,
    SLA,
    WEB,
    Month,
    expected_breaches,
    expected_fell_out,
    expected_time_to_patch,
    expected_trend,
    run_month,
)
from tests.history_pg import postgres  # noqa: F401 - the fixture

pytestmark = pytest.mark.usefixtures("prefect_harness")


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def month(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, config
) -> Iterator[Month]:
    """One month per store (it takes a while): the tests below read it, in order."""
    folder = tmp_path_factory.mktemp(f"month-{request.param}")
    if request.param == "sqlite":
        url = f"sqlite:///{folder / 'history.db'}"
    else:
        url = str(request.getfixturevalue("postgres").new_database())
    with pytest.MonkeyPatch.context() as monkeypatch:
        yield run_month(folder, url, monkeypatch, config)


def stored(month: Month):
    settings = load_history_settings(month.config_dir)
    store = open_store(settings)
    try:
        return store.runs()
    finally:
        store.close()


def test_a_month_of_flows_matches_the_simulators_evidence(month: Month) -> None:
    runs = stored(month)
    assert [r.kind for r in runs] == [s.kind for s in month.seen]
    # compliance over time: each run's point is what the simulator reported for those instances
    trend = [
        (p.kind, p.observed, p.compliant, {k: v for k, v in p.by_severity.items() if v})
        for p in compliance_trend(runs)
    ]
    assert trend == expected_trend(month)
    assert len({t[2] for t in trend}) > 1, "compliance moved during the month"
    summary = summarise_history(runs, SLA)
    # time to patch, from release and from first seen missing, per severity
    for basis in ("release", "first_seen"):
        got = {
            t["severity"]: (t["count"], t["mean_days"], t["p90_days"])
            for t in summary["time_to_patch"][basis]
        }
        want = {
            k: (n, round(m, 2), round(p, 2)) for k, (n, m, p) in expected_time_to_patch(month, basis).items()
        }
        assert got == want, basis
    assert summary["time_to_patch"]["first_seen"], "some patches were seen missing before being installed"
    # SLA breaches, closed and open
    got_breaches = {(b["instance_id"], b["patch_id"], b["open"]) for b in summary["sla_breaches"]}
    assert got_breaches == expected_breaches(month)
    assert any(open_ for *_, open_ in got_breaches) and not all(open_ for *_, open_ in got_breaches)
    # instances that fell out of compliance between runs
    from patchwave.history.measures import fell_out_of_compliance

    assert {(f.instance_id, f.non_compliant_at) for f in fell_out_of_compliance(runs)} == expected_fell_out(
        month
    )
    # window success rates: the reports' own outcomes
    reports = month.reports()
    rates = window_success(runs)
    assert len(rates) == len(reports) == 5
    for rate in rates:
        totals = reports[rate.run_id]["totals"]
        online = sum(totals.values()) - totals["skipped_offline"]
        assert rate.succeeded == totals["patched"] + totals["already_compliant"] and rate.online == online


def test_resuming_a_recorded_run_does_not_count_it_twice(month: Month) -> None:
    before = stored(month)
    last = [r for r in before if r.kind == "window"][-1]
    state = patch_window(
        window="weekly",
        config_dir=str(month.config_dir),
        report_dir=str(month.report_dir),
        resume=last.run_id,
        return_state=True,
    )
    assert state.is_final()  # the last window halted on its failing instance: so does its resume
    after = stored(month)
    assert [r.run_id for r in after] == [r.run_id for r in before]
    assert sum(len(r.instances) for r in after) == sum(len(r.instances) for r in before)

    def points(runs):  # the resumed run's report ends later; what it observed is the same
        return [
            (p.run_id, p.observed, p.compliant, p.by_severity, p.by_group) for p in compliance_trend(runs)
        ]

    assert points(after) == points(before)


def test_cli_history_json_filters_and_html_page(month: Month, tmp_path: Path) -> None:
    from patchwave.cli import app

    runner = CliRunner()
    cfg = ["--config", str(month.config_dir)]
    table = runner.invoke(app, ["history", *cfg])
    assert table.exit_code == 0, table.output
    assert "weekly" in table.output and "SLA breaches" in table.output
    whole = json.loads(runner.invoke(app, ["history", *cfg, "--json"]).stdout)
    assert whole == json.loads(json.dumps(summarise_history(stored(month), SLA)))
    critical = json.loads(runner.invoke(app, ["history", *cfg, "--json", "--severity", "critical"]).stdout)
    assert {t["severity"] for t in critical["time_to_patch"]["release"]} == {"CRITICAL"}
    assert {b["severity"] for b in critical["sla_breaches"]} == {"CRITICAL"}
    assert all(
        set(k for k, v in p["non_compliant_by_severity"].items() if v) <= {"CRITICAL"}
        for p in critical["trend"]
    )
    group = json.loads(runner.invoke(app, ["history", *cfg, "--json", "--group", "Critical"]).stdout)
    assert all(set(p["by_group"]) == {"Critical"} for p in group["trend"])
    assert {p["observed"] for p in group["trend"]} == {len(CANARY) + len(WEB)}
    since = month.seen[-1].observed_at[CANARY[0]] - dt.timedelta(days=8)
    recent = json.loads(
        runner.invoke(app, ["history", *cfg, "--json", "--since", f"{since:%Y-%m-%d}"]).stdout
    )
    assert recent["runs"] and len(recent["runs"]) < len(whole["runs"])
    assert all(r["started_at"] >= f"{since:%Y-%m-%d}" for r in recent["runs"])
    page = tmp_path / "history.html"
    written = runner.invoke(app, ["history", *cfg, "--html", str(page)])
    assert written.exit_code == 0, written.output
    html = page.read_text()
    assert html.count("<svg") >= 4 and "<polyline" in html and "<script" not in html.lower()
    assert set(re.findall(r"https?://[^\s\"']+", html)) == {"http://www.w3.org/2000/svg"}  # nothing fetched


def test_trend_and_sla_breaches_are_prefect_artifacts(month: Month) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        found = {
            key: client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])))
            for key in ("history-trend", "history-sla-breaches")
        }
    assert all(found.values()), found
    latest = max(found["history-trend"], key=lambda a: a.created)
    rows = json.loads(latest.data) if isinstance(latest.data, str) else latest.data
    assert len(rows) == min(60, len(compliance_trend(stored(month))))
    breaches = max(found["history-sla-breaches"], key=lambda a: a.created)
    assert str(breaches.data).startswith("# SLA breaches: ")


def test_a_history_store_that_cannot_be_reached_never_fails_a_window(
    config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import socket

    from tests.helpers import world
    from tests.history_month import month_spec, write_config

    with socket.socket() as s:  # a port nothing listens on: the connection is refused for real
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    folder = write_config(tmp_path / "config", f"postgresql+psycopg://postgres@127.0.0.1:{port}/history")
    fleet, clock = world(month_spec(), config.baselines)
    from patchwave.connect import FleetHandle

    handle = FleetHandle(fleet, clock, "unreachable history")
    monkeypatch.setattr("flows.patch_window.open_fleet", lambda *a, **k: handle)
    state = patch_window(
        window="weekly", config_dir=str(folder), report_dir=str(tmp_path / "r"), return_state=True
    )
    assert state.is_final() and list((tmp_path / "r").glob("*.json"))
    assert state.is_completed() or "halted" in str(state.message)
    assert any("History not recorded" in r.getMessage() for r in caplog.records)
