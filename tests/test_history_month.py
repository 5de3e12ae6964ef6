"""History written by the real flows over a simulated month (weekly windows, scans between),
every figure checked against the simulator's own evidence; on SQLite and on a real PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from flows.patch_window import patch_window
from patchwave.config.history import load_history_settings
from patchwave.history.measures import compliance_trend, window_success
from patchwave.history.opening import open_store
from patchwave.history.summary import summarise_history
from tests.history_month import (
    SLA,
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
