"""The crash campaign's machinery: a window in a child process, killed right after its k-th
step (fleet call or ledger write), resumed, and judged from the simulated fleet's own
evidence (its state file outlives every process, as a real fleet would)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from patchwave.sim.fleet import SimulatedFleet
from patchwave.state.ledger import peek
from tests.helpers import group, ids, spec, window
from tests.prefect_server import free_port, start_server, stop

ROOT = Path(__file__).resolve().parent.parent
KILLED = -9


@dataclass(frozen=True)
class Scenario:
    name: str
    waves: list[dict[str, Any]]
    members: list[str]
    window_extra: dict[str, Any]
    behaviour: dict[str, Any]


@pytest.fixture(scope="module")
def api_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One Prefect server for the campaign, so each child does not start its own."""
    home = tmp_path_factory.mktemp("campaign-prefect")
    port = free_port()
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
    }
    with (home / "server.log").open("w") as log:
        process = start_server(port, env, log, home / "server.log")
        try:
            yield f"http://127.0.0.1:{port}/api"
        finally:
            stop(process)


@pytest.fixture(scope="module")
def baselines(config: Any) -> dict[str, Any]:
    return dict(config.baselines.model_dump(mode="json"))


def scenarios() -> list[Scenario]:
    many = ids("d1", 7)
    reboots = ids("d2", 5)
    halting = ids("d3", 6)
    drained = ids("d4", 5)
    return [
        Scenario(  # several SendCommand batches per wave, RebootIfNeeded
            "multi-batch",
            [
                {"name": "canary", "select": {"count": 1}, "max_concurrency": "1"},
                {"name": "rest", "max_concurrency": "3", "max_errors": "100%"},
            ],
            many,
            {},
            {"install_minutes": {"median": 8, "p99": 12}, "failing_ids": [many[3]]},
        ),
        Scenario(  # controlled reboots, two at a time
            "controlled-reboots",
            [{"name": "all", "max_concurrency": "3", "max_errors": "100%"}],
            reboots,
            {"reboot": "controlled", "reboot_concurrency": "2"},
            {"install_minutes": {"median": 6, "p99": 10}, "reboot_rate": 1.0},
        ),
        Scenario(  # the first wave halts at its first error; the second never starts
            "halting",
            [
                {"name": "first", "select": {"count": 4}, "max_concurrency": "2", "max_errors": "0"},
                {"name": "second", "max_concurrency": "2"},
            ],
            halting,
            {},
            {"install_minutes": {"median": 8, "p99": 12}, "failing_ids": [halting[1]]},
        ),
        Scenario(  # taken out of a target group and an Auto Scaling group, hooks around the install
            "drain-hooks",
            [{"name": "all", "max_concurrency": "2", "max_errors": "100%"}],
            drained,
            {
                "drain": {"enabled": True},
                "hooks": {"pre_install": {"command": "stop-app"}, "post_verify": {"command": "warm-up"}},
            },
            {
                "install_minutes": {"median": 6, "p99": 10},
                "failing_ids": [drained[2]],
                "drain": {
                    "target_groups": {
                        "web": {
                            "fleet_groups": ["a"],
                            "deregistration_delay_seconds": 60,
                            "healthy_after_seconds": 30,
                        }
                    },
                    "auto_scaling_groups": {
                        "web-asg": {"instance_ids": drained[:3], "target_groups": ["web"]}
                    },
                },
                "hooks": {"faults": [{"instance_ids": [drained[4]], "effect": "fail", "match": "warm-up"}]},
            },
        ),
    ]


@dataclass
class Run:
    """One scenario's files: a copy per kill point, so every run starts from the same world."""

    folder: Path
    scenario: Scenario

    @property
    def state_file(self) -> Path:
        return self.folder / "fleet-state.pickle"

    @property
    def reports(self) -> Path:
        return self.folder / "reports"

    def prepare(self, baselines: dict[str, Any]) -> Run:
        config = self.folder / "config"
        config.mkdir(parents=True)
        (config / "baselines.yaml").write_text(yaml.safe_dump(baselines))
        win = window(self.scenario.waves, **self.scenario.window_extra)
        (config / "windows.yaml").write_text(yaml.safe_dump({"windows": [win.model_dump(mode="json")]}))
        fleet_spec = spec([group("a", self.scenario.members)], **self.scenario.behaviour).model_dump(
            mode="json"
        )
        fleet_spec["state_file"] = str(self.state_file)
        (self.folder / "fleet.yaml").write_text(yaml.safe_dump(fleet_spec))
        return self

    def arguments(self, resume: str | None = None) -> list[str]:
        base = [
            "run",
            "--window",
            "test-window",
            "--config",
            str(self.folder / "config"),
            "--fleet",
            f"sim:{self.folder / 'fleet.yaml'}",
            "--report-dir",
            str(self.reports),
            "--speed",
            "0",
        ]
        return [*base, "--resume", resume] if resume else base

    def child(
        self, kill_at: int, resume: str | None = None, api_url: str | None = None, log: str = "steps"
    ) -> subprocess.CompletedProcess[str]:
        env = {
            **os.environ,
            "PREFECT_HOME": str(self.folder.parent / "prefect-home"),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "DO_NOT_TRACK": "1",
            "COLUMNS": "200",
        }
        env.pop("PREFECT_API_URL", None)
        if api_url:  # one Prefect server for the campaign: a child need not start its own
            env["PREFECT_API_URL"] = api_url
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "tests.crash_child",
                str(kill_at),
                str(self.folder / f"{log}.log"),
                "--",
                *self.arguments(resume),
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            start_new_session=True,
        )

    def steps(self, log: str = "steps") -> list[str]:
        """The steps a child made: 'fleet VERB' or 'ledger KIND[,KIND]', in order."""
        path = self.folder / f"{log}.log"
        return [line.split(" ", 1)[1] for line in path.read_text().splitlines()] if path.exists() else []

    def run_id(self) -> str | None:
        """The run to resume: the one whose ledger has its plan (a run killed before that
        started nothing but scans, and is run again from the start)."""
        folder = self.reports / ".runs"
        for path in sorted(folder.glob("*.jsonl")) if folder.exists() else []:
            if any(e["kind"] == "plan" for e in peek(path)):
                return path.stem
        return None

    def report(self) -> dict[str, Any]:
        (path,) = self.reports.glob("*.json")
        return dict(json.loads(path.read_text()))

    def fleet(self) -> SimulatedFleet:
        return SimulatedFleet.load(self.state_file)


def fresh(root: Path, scenario: Scenario, tag: str, baselines: dict[str, Any]) -> Run:
    folder = root / f"{scenario.name}-{tag}"
    if folder.exists():
        shutil.rmtree(folder)
    return Run(folder, scenario).prepare(baselines)


def outcomes(report: dict[str, Any]) -> dict[str, str]:
    return {i["instance_id"]: i["outcome"] for i in report["instances"]}


def evidence(fleet: SimulatedFleet, members: list[str]) -> tuple[Counter[str], Counter[str]]:
    """Installs and controlled reboots each instance received, by the fleet's own records."""
    installs: Counter[str] = Counter()
    for sent in fleet.sent:
        if sent.operation == "Install":
            installs.update(sent.instance_ids)
    reboots = Counter({iid: fleet.instance(iid).reboots for iid in members})
    return installs, reboots
