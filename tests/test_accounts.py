"""Many accounts and regions, end to end: a moto server (its own process, IAM enforced) plays
the organization (an OU of accounts), STS, DynamoDB and S3; a real Prefect server and a process
worker run the parent flow and its child runs; each member account-region's fleet is simulated.

Three accounts x two regions: the parent fans out six child runs through run_deployment; the
accounts' global concurrency limit (2) is observed; one account whose role the orchestrator
may not assume fails (AccessDenied) without stopping the others; one aggregated report and
artifact, with links. Every process is started and stopped by its PID."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
import yaml
from botocore.config import Config as BotoConfig

from patchwave.aws.s3_state import S3Ledger
from tests import test_e2e_prefect_server as e2e
from tests.helpers import group, ids, spec, window
from tests.prefect_server import free_port, stop, wait_for

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
REGIONS = ["eu-west-1", "us-east-1"]
ONE_TRY = BotoConfig(retries={"max_attempts": 1})
server = e2e.server  # the Prefect server fixture


@pytest.fixture
def moto_process(tmp_path: Path) -> Iterator[str]:
    """A moto server in its own process (so enforcing IAM there touches no other test)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = (tmp_path / "moto.log").open("w")
    process = subprocess.Popen(
        [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )

    def up() -> bool:
        assert process.poll() is None, (tmp_path / "moto.log").read_text()[-2000:]
        try:
            with urllib.request.urlopen(f"{url}/moto-api/data.json", timeout=2):
                return True
        except OSError:
            return False

    try:
        wait_for(up, 60, "the moto server")
        yield url
    finally:
        stop(process)
        log.close()


def organization(url: str) -> dict:
    """As an administrator (before IAM is enforced): the orchestrator's user, denied the role
    of one account; an OU with four accounts, one of them excluded; the state bucket."""
    admin = {"endpoint_url": url, "config": ONE_TRY, "region_name": "eu-west-1"}
    admin |= {"aws_access_key_id": "admin", "aws_secret_access_key": "admin"}
    org = boto3.client("organizations", **admin)
    org.create_organization(FeatureSet="ALL")
    root = org.list_roots()["Roots"][0]["Id"]
    unit = org.create_organizational_unit(ParentId=root, Name="prod")["OrganizationalUnit"]["Id"]
    nested = org.create_organizational_unit(ParentId=unit, Name="web")["OrganizationalUnit"]["Id"]
    accounts = []
    for number, parent in enumerate([unit, unit, nested, unit]):
        made = org.create_account(AccountName=f"member-{number}", Email=f"m{number}@example.com")
        account = made["CreateAccountStatus"]["AccountId"]
        org.move_account(AccountId=account, SourceParentId=root, DestinationParentId=parent)
        accounts.append(account)
    canary, ok, denied, excluded = accounts
    iam = boto3.client("iam", **admin)
    iam.create_user(UserName="orchestrator")
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "*", "Resource": "*"},
            {"Effect": "Deny", "Action": "sts:AssumeRole", "Resource": f"arn:aws:iam::{denied}:role/*"},
        ],
    }
    iam.put_user_policy(UserName="orchestrator", PolicyName="orchestrate", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName="orchestrator")["AccessKey"]
    boto3.client("s3", **admin).create_bucket(
        Bucket="patchwave-state", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    return {
        "unit": unit,
        "canary": canary,
        "ok": ok,
        "denied": denied,
        "excluded": excluded,
        "key": (key["AccessKeyId"], key["SecretAccessKey"]),
    }


def write_config(folder: Path, org: dict) -> None:
    folder.mkdir(parents=True)
    (folder / "baselines.yaml").write_text((ROOT / "config" / "baselines.yaml").read_text())
    win = window([{"name": "all", "max_concurrency": "50%", "max_errors": "1"}])
    (folder / "windows.yaml").write_text(yaml.safe_dump({"windows": [win.model_dump(mode="json")]}))
    aws = {
        "region": "eu-west-1",
        "shared": {
            "leases_table": "patchwave-leases",
            "bucket": "patchwave-state",
            "prefix": "patchwave/state",
        },
        "accounts": {
            "organization_unit": org["unit"],
            "exclude": [org["excluded"]],
            "regions": REGIONS,
            "canary": org["canary"],
            "max_concurrent": 2,
            "max_failed_targets": 2,
        },
    }
    (folder / "aws.yaml").write_text(yaml.safe_dump(aws))


def write_fleets(folder: Path, accounts: list[str]) -> None:
    folder.mkdir(parents=True)
    for a, account in enumerate(accounts):
        for r, region in enumerate(REGIONS):
            members = ids(f"a{a}{r}", 3)
            (folder / f"{account}-{region}.yaml").write_text(
                yaml.safe_dump(spec([group("web", members)]).model_dump(mode="json"))
            )


def max_overlap(intervals: list[tuple[dt.datetime, dt.datetime]]) -> int:
    edges = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    current = peak = 0
    for _, step in edges:
        current += step
        peak = max(peak, current)
    return peak


def test_three_accounts_two_regions_fan_out_cap_failure_and_one_report(server, moto_process: str) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterKey,
        FlowRunFilter,
        FlowRunFilterParentFlowRunId,
    )
    from prefect.concurrency.sync import concurrency
    from prefect.events.worker import EventsWorker
    from prefect.settings import PREFECT_API_URL, temporary_settings

    url, env, tmp_path = server
    org = organization(moto_process)
    members = [org["canary"], org["ok"], org["denied"]]
    write_config(tmp_path / "config", org)
    write_fleets(tmp_path / "fleets", members)
    # from here on moto enforces IAM: only the orchestrator's key (and assumed roles) get in
    enforce = urllib.request.Request(
        f"{moto_process}/moto-api/reset-auth", data=b"0", headers={"Content-Type": "text/plain"}
    )
    urllib.request.urlopen(enforce, timeout=10)
    env = {
        **env,
        "AWS_ENDPOINT_URL": moto_process,
        "AWS_ACCESS_KEY_ID": org["key"][0],
        "AWS_SECRET_ACCESS_KEY": org["key"][1],
        "AWS_REGION": "eu-west-1",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }
    env.pop("AWS_PROFILE", None)
    env.pop("AWS_SESSION_TOKEN", None)
    reports = tmp_path / "reports"
    common = ["--config", str(tmp_path / "config"), "--report-dir", str(reports)]

    def cli(*args: str) -> str:
        done = subprocess.run(
            [str(BIN / "patchwave"), *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    setup = cli("setup", "--config", str(tmp_path / "config"))
    assert "lease table patchwave-leases: created" in setup
    assert "concurrency limit patchwave-accounts (2): created" in setup
    subprocess.run(
        [str(BIN / "prefect"), "work-pool", "create", "accounts-e2e", "--type", "process"],
        env=env,
        check=True,
        capture_output=True,
        timeout=60,
    )
    fleet = f"sim:{tmp_path / 'fleets'}/{{account}}-{{region}}.yaml"
    deployed = cli("deploy", "--work-pool", "accounts-e2e", "--fleet", fleet, "--speed", "0", *common)
    assert (
        "deployed patch-accounts/test-window" in deployed
        and "deployed account-window/account-window" in deployed
    )

    worker_log = (tmp_path / "worker.log").open("w")
    worker = subprocess.Popen(
        [str(BIN / "prefect"), "worker", "start", "--pool", "accounts-e2e", "--limit", "8"],
        cwd=ROOT,
        env={**env, "PREFECT_WORKER_QUERY_SECONDS": "2"},
        stdout=worker_log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        with temporary_settings(updates={PREFECT_API_URL: url}), get_client(sync_client=True) as client:
            parent_deployment = client.read_deployment_by_name("patch-accounts/test-window")
            # the test takes both slots of the accounts' limit first, so the canary's children
            # must wait for them: the limit, not the timing of the machine, is what is exercised
            with concurrency("patchwave-accounts", occupy=2, strict=True):
                parent = client.create_flow_run_from_deployment(parent_deployment.id)

                def canary_running():
                    runs = client.read_flow_runs(
                        flow_run_filter=FlowRunFilter(
                            parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[parent.id])
                        )
                    )
                    return [r for r in runs if r.state is not None and r.state.is_running()]

                blocked = wait_for(canary_running, 180, "the canary's child runs")
                time.sleep(3)  # well past the step from Running to asking for the slot
            given_back = dt.datetime.now(dt.UTC)
            # the slot's events went through this process's events worker, bound to this test's
            # server: send them and stop it, or later tests' events would queue behind a dead server
            EventsWorker.drain_all(timeout=30)

            def finished():
                run = client.read_flow_run(parent.id)
                return run if run.state is not None and run.state.is_final() else None

            done = wait_for(finished, 240, "the parent run")
            log_tail = (tmp_path / "worker.log").read_text()[-4000:]
            assert done.state.is_completed(), (done.state, log_tail)  # 2 failed targets <= max_failed_targets

            children = client.read_flow_runs(
                flow_run_filter=FlowRunFilter(
                    parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[parent.id])
                )
            )
            child_deployment = client.read_deployment_by_name("account-window/account-window")
            assert len(children) == 6 and {c.deployment_id for c in children} == {child_deployment.id}
            by_target = {(c.parameters["account"], c.parameters["region"]): c for c in children}
            assert set(by_target) == {(a, r) for a in members for r in REGIONS}  # the OU, minus exclusions
            for (account, _), child in by_target.items():
                assert child.state.is_completed() == (account != org["denied"]), child.state
                if account == org["denied"]:
                    assert "AccessDenied" in (child.state.message or ""), child.state.message

            # the cap: at most 2 children held a slot at once, while more than 2 were running
            s3 = boto3.client(
                "s3",
                endpoint_url=moto_process,
                region_name="eu-west-1",
                config=ONE_TRY,
                aws_access_key_id=org["key"][0],
                aws_secret_access_key=org["key"][1],
            )
            held, asked, slot_owner = [], [], []
            for child in children:
                url = f"s3://patchwave-state/patchwave/state/runs/{child.id}"
                for entry in S3Ledger(s3, url).entries():
                    if entry["kind"] == "account_slot":
                        since, until = entry["held"], entry["released"]
                        held.append((dt.datetime.fromisoformat(since), dt.datetime.fromisoformat(until)))
                        asked.append(dt.datetime.fromisoformat(entry["asked"]))
                        slot_owner.append(str(child.id))
            assert len(held) == 6
            assert max_overlap(held) <= 2
            # no child held a slot while the test held both, and the blocked ones had asked before
            assert all(got >= given_back for got, _ in held)
            blocked_ids = {str(run.id) for run in blocked}
            assert any(
                ask < given_back for child, ask in zip(slot_owner, asked, strict=True) if child in blocked_ids
            ), (asked, given_back)
            canary_end = max(c.end_time for (a, _), c in by_target.items() if a == org["canary"])
            assert all(c.start_time >= canary_end for (a, _), c in by_target.items() if a != org["canary"])

            # one aggregated report, and its artifact, with links
            (aggregated,) = reports.glob("test-window-accounts-*.json")
            report = json.loads(aggregated.read_text())
            assert report["status"] == "partial" and report["run_id"] == str(parent.id)
            statuses = {(t["account"], t["region"]): t["status"] for t in report["targets"]}
            assert statuses == {
                (a, r): ("failed" if a == org["denied"] else "succeeded") for a in members for r in REGIONS
            }
            for target in report["targets"]:
                assert target["run_link"].endswith(f"/runs/flow-run/{target['flow_run_id']}")
                if target["status"] == "succeeded":
                    assert target["totals"]["patched"] == 3
                    child = json.loads(Path(target["report_link"]).read_text())  # the child's own report
                    assert child["run_id"] == target["flow_run_id"] and len(child["instances"]) == 3
                else:
                    assert "AccessDenied" in target["message"] and target["report_link"] is None
            (artifact,) = client.read_artifacts(
                artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["accounts-test-window"]))
            )
            assert str(artifact.flow_run_id) == str(parent.id)
            assert "/runs/flow-run/" in artifact.data and "AccessDenied" in artifact.data
            shared = s3.list_objects_v2(
                Bucket="patchwave-state", Prefix=f"patchwave/state/reports/{parent.id}/"
            )
            assert {Path(o["Key"]).suffix for o in shared["Contents"]} == {".json", ".md"}
    finally:
        stop(worker)
        worker_log.close()


def test_account_waves_put_the_canary_alone_first_then_waves_of_accounts() -> None:
    from patchwave.window.accounts import plan_account_waves

    waves = plan_account_waves(["333", "111", "222", "444"], ["eu-west-1", "us-east-1"], "333", 2)
    assert [w.name for w in waves] == ["canary", "accounts-1", "accounts-2"]
    assert [t.label for t in waves[0].targets] == ["333/eu-west-1", "333/us-east-1"]
    assert [sorted({t.account for t in w.targets}) for w in waves[1:]] == [["111", "222"], ["444"]]
    (everything,) = plan_account_waves(["1", "2"], ["eu-west-1"], None, 0)
    assert len(everything.targets) == 2


@pytest.mark.parametrize(
    ("accounts", "shown"),
    [
        ({"ids": ["12345"], "regions": ["eu-west-1"]}, "account id '12345' is not 12 digits"),
        ({"ids": ["111111111111"], "regions": ["mars-1"]}, "region 'mars-1' is not a region name"),
        ({"ids": ["111111111111"]}, "name at least one region"),
        ({"regions": ["eu-west-1"]}, "name ids or an organization_unit"),
        ({"organization_unit": "ou-bad", "regions": ["eu-west-1"]}, "accounts.organization_unit = 'ou-bad'"),
        (
            {"ids": ["111111111111"], "regions": ["eu-west-1"], "max_concurrent": 0},
            "accounts.max_concurrent = 0",
        ),
        (
            {"ids": ["111111111111"], "regions": ["eu-west-1"], "canary": "222222222222"},
            "canary '222222222222' is not one of ids",
        ),
        (
            {
                "ids": ["111111111111"],
                "regions": ["eu-west-1"],
                "role_arns": {"111111111111": "arn:aws:iam::9:role/x"},
            },
            "is not a role of account 111111111111",
        ),
    ],
)
def test_bad_accounts_config_is_one_line_exit_2_before_any_call(
    tmp_path: Path, accounts: dict, shown: str
) -> None:
    from typer.testing import CliRunner

    from patchwave.cli import app

    folder = tmp_path / "config"
    folder.mkdir()
    for name in ("baselines.yaml", "windows.yaml"):
        (folder / name).write_text((ROOT / "config" / name).read_text())
    (folder / "aws.yaml").write_text(yaml.safe_dump({"accounts": accounts}))
    result = CliRunner().invoke(
        app, ["setup", "--config", str(folder)], env={"AWS_ENDPOINT_URL": "http://127.0.0.1:9"}
    )
    assert result.exit_code == 2, result.output
    assert shown in result.output and f"{folder / 'aws.yaml'}: accounts" in result.output
    assert len(result.output.strip().splitlines()) == 1
