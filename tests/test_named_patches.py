"""Named patches (InstallOverrideList) as AWS means them: advisories and CVEs resolve to the
packages to install per platform, the override installs what the baseline has not approved,
planning asks "is the named patch missing", verification checks each one is installed; on the
simulator and through the AWS adapter (emulator, every request validated by botocore)."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
import yaml
from prefect import flow
from typer.testing import CliRunner

from flows.patch_window import run_window
from patchwave.aws.fleet import AwsFleet
from patchwave.aws.session import AwsClients
from patchwave.baselines.catalog import builtin_catalog
from patchwave.baselines.evaluate import evaluate, predefined_baselines
from patchwave.cli import app
from patchwave.config.aws import AwsSettings
from patchwave.connect import FleetHandle
from patchwave.errors import ConfigError
from patchwave.fleet import patch_states_by_id
from patchwave.window.emergency import EmergencyRequest, emergency_window
from patchwave.window.named import kind_of
from tests.aws_emulator import Emulator
from tests.helpers import START, group, ids, spec, world

pytestmark = pytest.mark.usefixtures("prefect_harness")

WEB = ids("f0", 6)  # Amazon Linux 2023, no patch group: the AWS default baseline
WIN = ids("f1", 2)
CURL_CVE = "CVE-2026-30388"  # ALAS2023-2026-1118, curl: Medium, which the default baseline never approves
CURL = ("curl.x86_64", "libcurl.x86_64")


def fleet_spec(**behaviour):
    return spec(
        [
            group("web", WEB, tags={"Role": "web"}),
            group("win", WIN, platform="WINDOWS", tags={"Role": "web"}),
        ],
        applicable_rate=1.0,
        **behaviour,
    )


def test_the_curl_advisory_is_not_approved_by_the_default_baseline() -> None:
    default = next(b for b in predefined_baselines().baselines if b.operating_system == "AMAZON_LINUX_2023")
    verdicts = {
        v.patch.id: v for v in evaluate(default, builtin_catalog("AMAZON_LINUX_2023").patches, START.date())
    }
    assert not verdicts["ALAS2023-2026-1118"].approved


def test_names_resolve_per_platform(config) -> None:
    sim, _ = world(fleet_spec(), config.baselines)
    found = {(p.name, p.operating_system, p.install_id) for p in sim.resolve_patches([CURL_CVE, "KB5068861"])}
    assert found == {
        (CURL_CVE, "AMAZON_LINUX_2023", "curl.x86_64"),
        (CURL_CVE, "AMAZON_LINUX_2023", "libcurl.x86_64"),
        ("KB5068861", "WINDOWS", "KB5068861"),
    }
    kernel = {p.operating_system for p in sim.resolve_patches(["CVE-2026-30112"])}
    assert kernel == {"AMAZON_LINUX_2023", "AMAZON_LINUX_2", "REDHAT_ENTERPRISE_LINUX", "SUSE", "UBUNTU"}
    assert [p.install_id for p in sim.resolve_patches(["openssl-libs"])] == ["openssl-libs.x86_64"]
    assert {p.install_id for p in sim.resolve_patches(["ALAS2023-2026-1107"])} == {
        "openssl.x86_64",
        "openssl-libs.x86_64",
    }
    assert sim.resolve_patches(["CVE-2026-30601"]) == []  # a Windows CVE: CVE_ID is a Linux filter key
    assert [kind_of(n) for n in ("RHSA-2026:8812", "SUSE-SU-2026:3801-1", "USN-7811-1", "KB5066835")] == [
        "advisory",
        "advisory",
        "advisory",
        "kb",
    ]
    with pytest.raises(ValueError, match="not an advisory"):
        kind_of("rm -rf /")


def emergency(handle: FleetHandle, tmp_path: Path, name: str, patches: list[str], **request):
    fields = {"reason": "curl CVE", "tags": {"Role": ["web"]}, "patches": patches, **request}
    window = emergency_window(EmergencyRequest.model_validate(fields))

    @flow(name=f"emergency-{name}")
    def go():
        return run_window(handle, window, report_dir=str(tmp_path / name), reason="curl CVE")

    return go()


def emulated(config, tmp_path: Path):
    backing, clock = world(fleet_spec(), config.baselines)
    session = boto3.Session(aws_access_key_id="x", aws_secret_access_key="y", region_name="eu-west-1")
    emulator = Emulator(backing)
    emulator.install(session)
    settings = AwsSettings.model_validate({"region": "eu-west-1", "install_override_bucket": "overrides"})
    return (
        backing,
        emulator,
        FleetHandle(AwsFleet(AwsClients(session), settings, clock), clock, "aws (emulated)"),
    )


def test_an_emergency_by_cve_installs_an_unapproved_patch_and_verifies_it(config, tmp_path: Path) -> None:
    sim, clock = world(fleet_spec(), config.baselines)
    direct = emergency(FleetHandle(sim, clock, "simulator"), tmp_path, "direct", [CURL_CVE])
    backing, emulator, handle = emulated(config, tmp_path)
    through_aws = emergency(handle, tmp_path, "aws", [CURL_CVE])

    for fleet, report in ((sim, direct), (backing, through_aws)):
        outcomes = {i.instance_id: i.outcome.value for i in report.instances}
        assert outcomes == {**dict.fromkeys(WEB, "patched"), **dict.fromkeys(WIN, "already_compliant")}
        installs = [c for c in fleet.sent if c.operation == "Install"]
        assert {c.install_override for c in installs} == {CURL}  # packages, never the CVE
        assert not set(WIN) & {i for c in installs for i in c.instance_ids}  # nothing to install on Windows
        states = fleet.instance_patches(WEB, CURL)
        assert all(
            patch_states_by_id(states[i], CURL) == dict.fromkeys(CURL, "INSTALLED_OTHER") for i in WEB
        )  # installed, unapproved
        for inv in fleet.invocations():
            if inv.operation == "Install":
                assert inv.install == ["ALAS2023-2026-1118"]  # the named patch and nothing else
    assert {i.instance_id: i.outcome for i in through_aws.instances} == {
        i.instance_id: i.outcome for i in direct.instances
    }
    (override,) = emulator.override_files.values()
    assert yaml.safe_load(override) == {"patches": [{"id": "curl.x86_64"}, {"id": "libcurl.x86_64"}]}
    assert "DescribeAvailablePatches" in emulator.calls and "DescribeInstancePatches" in emulator.calls
    for api in ("DescribeInstancePatches", "DescribeAvailablePatches"):
        assert through_aws.api_calls[api] == direct.api_calls[api]  # the simulator charges what AWS does

    # planned by "is the named patch missing": once installed, nothing is left to do
    again = emergency(FleetHandle(sim, clock, "simulator"), tmp_path, "again", [CURL_CVE])
    assert {i.outcome.value for i in again.instances} == {"already_compliant"}


def test_one_override_file_per_platform_group(config, tmp_path: Path) -> None:
    backing, emulator, handle = emulated(config, tmp_path)
    report = emergency(
        handle, tmp_path, "mixed", [CURL_CVE, "KB5068861"], canary=False, max_concurrency="100%"
    )
    assert {i.outcome.value for i in report.instances} == {"patched"}
    files = sorted(
        tuple(p["id"] for p in yaml.safe_load(text)["patches"]) for text in emulator.override_files.values()
    )
    assert files == [("KB5068861",), CURL]
    for command in (c for c in backing.sent if c.operation == "Install"):
        platforms = {backing.instance(i).platform for i in command.instance_ids}
        assert len(platforms) == 1  # a Linux command names no KB, a Windows one no package


def test_a_named_patch_that_does_not_install_fails_verification(config, tmp_path: Path) -> None:
    """The baseline of patch group Critical rejects system-release.*: the override never installs
    a rejected patch, and verification does not take the install's Success for it."""
    fleet = spec(
        [group("crit", WEB[:2], tags={"Role": "web", "Patch Group": "Critical"})], applicable_rate=1.0
    )
    sim, clock = world(fleet, config.baselines)
    report = emergency(
        FleetHandle(sim, clock, "simulator"), tmp_path, "rejected", ["ALAS2023-2026-1142"], canary=False
    )
    assert {i.outcome.value for i in report.instances} == {"failed_verification"}
    assert all("named patch system-release.noarch is not reported" in i.error for i in report.instances)
    assert all(inv.install == [] for inv in sim.invocations() if inv.operation == "Install")


def test_an_unknown_cve_is_refused_before_any_instance_is_touched(config, tmp_path: Path) -> None:
    sim, clock = world(fleet_spec(), config.baselines)
    with pytest.raises(
        ConfigError, match=r"install_override = 'CVE-2099-0001': resolves to no available patch"
    ):
        emergency(FleetHandle(sim, clock, "simulator"), tmp_path, "unknown", ["CVE-2099-0001"])
    assert set(sim.api_calls()) == {"DescribeAvailablePatches"} and not sim.sent and not sim.touched
    backing, emulator, handle = emulated(config, tmp_path)
    with pytest.raises(ConfigError, match="CVE-2099-0001"):
        emergency(handle, tmp_path, "unknown-aws", ["CVE-2099-0001"])
    assert set(emulator.calls) == {"DescribeAvailablePatches"} and not backing.sent


def write_world(tmp_path: Path, config) -> tuple[Path, Path]:
    folder = tmp_path / "config"
    folder.mkdir(exist_ok=True)
    (folder / "baselines.yaml").write_text(yaml.safe_dump(config.baselines.model_dump(mode="json")))
    (folder / "windows.yaml").write_text("windows: []\n")
    fleet_file = tmp_path / "fleet.yaml"
    fleet_file.write_text(yaml.safe_dump(fleet_spec().model_dump(mode="json")))
    return folder, fleet_file


def cli(tmp_path: Path, config, *args: str):
    folder, fleet_file = write_world(tmp_path, config)
    common = ["--config", str(folder), "--fleet", f"sim:{fleet_file}", "--report-dir", str(tmp_path / "r")]
    return CliRunner().invoke(app, ["emergency", "--reason", "curl CVE", *args, *common, "--speed", "0"])


def test_cli_unknown_cve_is_one_line_exit_2(config, tmp_path: Path) -> None:
    result = cli(tmp_path, config, "--tag", "Role=web", "--patch", "CVE-2099-0001")
    assert result.exit_code == 2, result.output
    (line,) = [x for x in result.output.splitlines() if x.startswith("error:")]
    assert "'CVE-2099-0001': resolves to no available patch" in line
    assert not list((tmp_path / "r").glob("*.json"))  # no run, no report
    bad = cli(tmp_path, config, "--tag", "Role=web", "--patch", "not a patch!")
    assert bad.exit_code == 2 and "not an advisory" in bad.output


def test_cli_emergency_whose_targets_match_nothing_fails_saying_so(config, tmp_path: Path) -> None:
    result = cli(tmp_path, config, "--tag", "Role=nothing", "--patch", CURL_CVE)
    assert result.exit_code == 1, result.output
    assert "the targets match no managed instance; nothing was patched" in result.output
    assert "failed (run" in result.output and "succeeded (run" not in result.output


def test_cli_patches_for_no_target_platform_are_refused(config, tmp_path: Path) -> None:
    result = cli(tmp_path, config, "--instance", WIN[0], "--patch", CURL_CVE)
    assert result.exit_code == 2, result.output
    assert "resolves to nothing for the targets' operating systems (WINDOWS)" in result.output
    assert not list((tmp_path / "r").glob("*.json"))


def test_cli_emergency_by_cve_patches_and_reports(config, tmp_path: Path) -> None:
    result = cli(tmp_path, config, "--tag", "Role=web", "--patch", CURL_CVE, "--no-canary")
    assert result.exit_code == 0, result.output
    data = json.loads(next((tmp_path / "r").glob("emergency-*.json")).read_text())
    assert {
        i["instance_id"]: i["outcome"] for i in data["instances"] if i["outcome"] == "patched"
    } == dict.fromkeys(WEB, "patched")


def test_window_install_override_plans_and_runs_by_named_patches(config, tmp_path: Path) -> None:
    folder, fleet_file = write_world(tmp_path, config)
    win = {
        "name": "curl-fix",
        "targets": {"tags": {"Role": ["web"]}},
        "install_override": [CURL_CVE],
        "waves": [{"name": "all", "max_concurrency": "100%", "max_errors": "0"}],
    }
    (folder / "windows.yaml").write_text(
        yaml.safe_dump({"windows": [win, dict(win, name="plain", install_override=[])]})
    )
    common = ["--config", str(folder), "--fleet", f"sim:{fleet_file}"]
    runner = CliRunner()
    planned = runner.invoke(app, ["plan", "--window", "curl-fix", *common])
    assert planned.exit_code == 0, planned.output
    assert "8 target(s), 6 to install" in planned.output  # the Amazon Linux ones miss curl; Windows has none
    unknown = runner.invoke(
        app, ["run", "--window", "plain", "--patch", "USN-0000-1", *common, "--speed", "0"]
    )
    assert unknown.exit_code == 2 and "'USN-0000-1': resolves to no available patch" in unknown.output
    ran = runner.invoke(
        app,
        [
            "run",
            "--window",
            "plain",
            "--patch",
            CURL_CVE,
            *common,
            "--speed",
            "0",
            "--report-dir",
            str(tmp_path / "r"),
        ],
    )
    assert ran.exit_code == 0, ran.output
    data = json.loads(next((tmp_path / "r").glob("plain-*.json")).read_text())
    assert sorted(i["instance_id"] for i in data["instances"] if i["outcome"] == "patched") == sorted(WEB)


def test_the_adapter_resolves_what_the_simulator_resolves(config, tmp_path: Path) -> None:
    backing, emulator, handle = emulated(config, tmp_path)
    names = [
        "openssl-libs.x86_64",
        "tzdata",
        "KB5068861",
        "ALAS2-2026-2608",
        "CVE-2026-30112",
        "RHSA-2026:8904",
    ]
    through_aws = sorted(handle.fleet.resolve_patches(names), key=repr)
    charged_by_emulator = backing.api_calls()["DescribeAvailablePatches"]
    assert through_aws == sorted(backing.resolve_patches(names), key=repr)
    on_simulator = backing.api_calls()["DescribeAvailablePatches"] - charged_by_emulator
    assert {(p.operating_system, p.install_id) for p in through_aws if p.name == "tzdata"} == {
        ("AMAZON_LINUX_2023", "tzdata.noarch"),
        ("UBUNTU", "tzdata"),  # Debian and Ubuntu packages carry no architecture
    }
    assert emulator.calls.count("DescribeAvailablePatches") == charged_by_emulator == on_simulator
