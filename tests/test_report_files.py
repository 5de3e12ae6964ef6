"""Report files: written atomically, schema fields present, HTML escapes fleet data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from patchwave.compliance.summary import summarise
from patchwave.reports.render import to_html, to_markdown
from patchwave.reports.report import build_report, write_atomic
from patchwave.window.planning import plan_window
from patchwave.window.runner import not_run
from tests.helpers import START, group, ids, spec, window, world


def sample_report(tmp_path: Path, config, name: str = "w<script>"):
    fleet, clock = world(spec([group("a", ids("f0", 3), tags={"Name": "<b>evil</b>"})]), config.baselines)
    targets = fleet.list_instances()
    member_ids = [t.instance_id for t in targets]
    compliance = fleet.compliance(member_ids)
    plan = plan_window(window([{"name": "only"}]), targets, fleet.patch_states(member_ids), compliance)
    results = [not_run(w, "operation is Scan (report only)", clock.now()) for w in plan.waves]
    before = summarise(targets, compliance)
    report = build_report(
        window=name,
        run_id="run-1",
        fleet="test",
        operation="Scan",
        reboot="if_needed",
        snapshot_id="snap",
        started_at=START,
        finished_at=clock.now(),
        plan=plan,
        results=results,
        before=before,
        after=before,
        api_calls=fleet.api_calls(),
    )
    files = {}
    for kind, text, suffix in (
        ("json", report.to_json(), ".json"),
        ("markdown", to_markdown(report), ".md"),
        ("html", to_html(report), ".html"),
    ):
        path = tmp_path / f"report{suffix}"
        write_atomic(path, text)
        files[kind] = str(path)
    return report, files


def test_report_files_are_complete_and_escaped(tmp_path: Path, config) -> None:
    report, files = sample_report(tmp_path, config)
    data = json.loads(Path(files["json"]).read_text())
    assert data["schema"] == "patchwave.reports.report/v1"
    assert len(data["instances"]) == 3 and all(i["outcome"] == "not_attempted" for i in data["instances"])
    html = Path(files["html"]).read_text()
    assert html.count("<script>") == 1 and "&lt;script&gt;" in html  # only the page's own filter
    assert not list(tmp_path.glob(".*.tmp"))  # no temporary file left behind


def test_atomic_write_leaves_the_old_file_on_failure(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    write_atomic(path, "old")
    with pytest.raises(TypeError):
        write_atomic(path, 123)  # type: ignore[arg-type]  # not text: the write fails midway
    assert path.read_text() == "old"
    assert not list(tmp_path.glob(".*.tmp"))
