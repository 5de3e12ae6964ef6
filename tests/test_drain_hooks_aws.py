"""Drain and hooks through the AWS adapter (real boto3 requests, validated by botocore against
the ELBv2, Auto Scaling and SSM models) against the emulator backed by the simulated fleet, and
the adapter's ELB and Auto Scaling calls against moto; a resumed run adopts a hook command by
its Comment and puts back what was taken out."""

from __future__ import annotations

import datetime as dt

import boto3
import pytest
from moto import mock_aws

from patchwave.aws.fleet import AwsFleet
from patchwave.aws.session import AwsClients
from patchwave.config.aws import AwsSettings
from patchwave.config.drain import DrainSettings, HookSettings
from patchwave.fleet import TargetRegistration
from patchwave.sim.drain import arn_of
from patchwave.sim.emulator import emulated_aws_fleet
from patchwave.window.drain import policy_for
from patchwave.window.hooks import HOOK_GRACE
from patchwave.window.outcomes import Outcome
from patchwave.window.runner import WaveResult, WaveRunner, WaveSettings
from tests.helpers import group, ids, plan_for, spec, window, world
from tests.test_drain_hooks import assert_never_installed_while_serving, drain_spec, invocations

HOOKS = {
    "pre_install": {"command": "stop-app"},
    "post_verify": {"document": "patchwave-Warmup", "parameters": {"level": ["full"]}, "timeout_seconds": 60},
}


class Stop(Exception):
    """The process stops here (the ledger has what was written before)."""


def scenario(config, prefix: str):
    members = ids(prefix, 6)
    faults = [
        {"instance_ids": [members[1]], "effect": "fail", "match": "stop-app"},
        {"instance_ids": [members[4]], "effect": "hang", "match": "Warmup"},
    ]
    drain = drain_spec(members, asg=members[:2], port_overrides={members[2]: 8080})
    fleet, clock = world(
        spec([group("web", members)], drain=drain, hooks={"faults": faults}), config.baselines
    )
    return members, fleet, clock


def run(fleet_port, sim, clock, *, record=None, resume=()) -> WaveResult:
    win = window([{"name": "only", "max_concurrency": "3", "max_errors": "2"}])
    (wave,) = plan_for(sim, win).waves
    policy = policy_for(DrainSettings(enabled=True), HookSettings.model_validate(HOOKS))
    settings = WaveSettings(snapshot_id="snap", run_id="run-aws-drain", drains=(("only", policy),))
    return WaveRunner(fleet_port, clock, wave, settings, record=record, resume=resume).run()


def outcomes(result: WaveResult) -> dict[str, tuple[Outcome, str]]:
    return {r.instance_id: (r.outcome, r.status_details) for r in result.results}


def test_the_same_window_through_the_adapter_against_the_emulator(config) -> None:
    members, plain, plain_clock = scenario(config, "db1")
    expected = outcomes(run(plain, plain, plain_clock))
    members, backing, clock = scenario(config, "db1")
    adapter, emulator = emulated_aws_fleet(backing)
    result = run(adapter, backing, clock)
    assert outcomes(result) == expected  # the same outcomes on the simulator and through boto3
    got = {r.instance_id: r for r in result.results}
    assert got[members[1]].outcome == Outcome.FAILED_INSTALL and "pre-install hook" in got[members[1]].error
    assert got[members[4]].status_details == "PostVerifyHookTimedOut"
    assert "post-verify hook (document patchwave-Warmup) timed out" in got[members[4]].error
    assert result.errors == 2 and result.status == "completed"
    assert sum(o == Outcome.PATCHED for o, _ in expected.values()) == 4
    assert not backing.overlaps
    for iid in members:
        assert_never_installed_while_serving(backing, iid)
        assert max(backing.services.serving(iid), key=lambda s: s[1])[2] is None  # all back
    # the port override: deregistered (the adapter sent its port), so it really stopped serving
    first = min(backing.services.serving(members[2]), key=lambda s: s[1])
    assert first[2] is not None
    # the named document hung: patchwave cancelled it at timeout + grace (SSM would wait 2 h)
    (hung,) = [h for h in invocations(backing, members[4], "Hook") if h.cancelled_at is not None]
    assert hung.cancelled_at - hung.sent >= dt.timedelta(seconds=60) + HOOK_GRACE
    calls = set(emulator.calls)
    assert {
        "DescribeTargetGroups",
        "DescribeTargetHealth",
        "DescribeTargetGroupAttributes",
        "DeregisterTargets",
        "RegisterTargets",
        "DescribeAutoScalingInstances",
        "EnterStandby",
        "ExitStandby",
        "CancelCommand",
    } <= calls
    documents = {c.document for c in backing.hooks_sent}
    assert documents == {"AWS-RunShellScript", "patchwave-Warmup"}
    (warmup, *_) = [c for c in backing.hooks_sent if c.document == "patchwave-Warmup"]
    assert dict(warmup.parameters) == {"level": ("full",)}
    assert backing.services.desired["web-asg"] == 2


def test_a_resumed_run_adopts_the_hook_a_stopped_run_sent_and_puts_everything_back(config) -> None:
    """The run stops right after its first hook SendCommand returned, before the send was
    written (its intent was, fsynced): the resumed run finds it by its Comment, never sends it
    again, and takes the wave to the end; nothing stays out of service."""
    members, backing, clock = scenario(config, "db2")
    adapter, emulator = emulated_aws_fleet(backing)
    ledger: list[dict] = []

    def record(kind: str, **data) -> None:
        if kind == "hook_send":
            raise Stop
        ledger.append({"kind": kind, **data})

    with pytest.raises(Stop):
        run(adapter, backing, clock, record=record)
    assert len(backing.hooks_sent) == 1 and [e["kind"] for e in ledger] == ["drain", "hook_intents"]
    adapter2, _ = emulated_aws_fleet(backing)
    resumed_record = []
    result = run(
        adapter2, backing, clock, record=lambda kind, **d: resumed_record.append(kind), resume=ledger
    )
    first = backing.hooks_sent[0]
    pre_hooks = [c for c in backing.hooks_sent if c.document == "AWS-RunShellScript"]
    sent_to = [iid for c in pre_hooks for iid in c.instance_ids]
    assert len(sent_to) == len(set(sent_to)) == len(members)  # one pre-install hook per instance
    assert set(first.instance_ids) <= set(sent_to)
    assert "hook_send" in resumed_record  # the adopted command is recorded now
    got = outcomes(result)
    assert got[members[1]] == (Outcome.FAILED_INSTALL, "PreInstallHookFailed")
    assert not backing.overlaps
    for iid in members:
        assert_never_installed_while_serving(backing, iid)
        assert max(backing.services.serving(iid), key=lambda s: s[1])[2] is None


@mock_aws
def test_the_drain_calls_against_moto(aws_env) -> None:
    """moto 5 implements target groups (DeregisterTargets, RegisterTargets, DescribeTargetHealth,
    DescribeTargetGroupAttributes) and Auto Scaling standby: the adapter's calls are checked
    against it too (moto deregisters at once, with no delay: the emulator models that)."""
    ec2 = boto3.client("ec2", region_name="eu-west-1")
    vpc = ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
    subnet = ec2.describe_subnets()["Subnets"][0]["SubnetId"]
    image = ec2.describe_images()["Images"][0]["ImageId"]
    elbv2 = boto3.client("elbv2", region_name="eu-west-1")
    group = elbv2.create_target_group(Name="web", Protocol="HTTP", Port=80, VpcId=vpc, TargetType="instance")
    arn = group["TargetGroups"][0]["TargetGroupArn"]
    elbv2.modify_target_group_attributes(
        TargetGroupArn=arn, Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": "42"}]
    )
    autoscaling = boto3.client("autoscaling", region_name="eu-west-1")
    autoscaling.create_launch_configuration(
        LaunchConfigurationName="lc", ImageId=image, InstanceType="t3.micro"
    )
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName="web-asg",
        LaunchConfigurationName="lc",
        MinSize=0,
        MaxSize=3,
        DesiredCapacity=2,
        VPCZoneIdentifier=subnet,
    )
    in_asg = [i["InstanceId"] for i in autoscaling.describe_auto_scaling_instances()["AutoScalingInstances"]]
    (loose,) = [
        i["InstanceId"] for i in ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1)["Instances"]
    ]
    elbv2.register_targets(TargetGroupArn=arn, Targets=[{"Id": loose}, {"Id": in_asg[0]}])
    adapter = AwsFleet(AwsClients(boto3.Session(region_name="eu-west-1")), AwsSettings(region="eu-west-1"))
    found = adapter.service_memberships([loose, *in_asg])
    assert {t.target_group_arn for t in found[loose].targets} == {arn} and not found[loose].auto_scaling_group
    assert (
        found[in_asg[0]].auto_scaling_group == "web-asg" and found[in_asg[0]].lifecycle_state == "InService"
    )
    assert found[in_asg[1]].targets == ()
    assert adapter.deregistration_delays([arn]) == {arn: 42}
    target = found[loose].targets[0]
    adapter.deregister_targets([target])
    assert loose not in {
        t.instance_id for m in adapter.service_memberships([loose]).values() for t in m.targets
    }
    assert adapter.register_targets([target]) == {}
    assert adapter.target_health([target])[target][0] in ("initial", "healthy")
    assert adapter.enter_standby("web-asg", in_asg) == {}
    states = {
        i["InstanceId"]: i["LifecycleState"]
        for i in autoscaling.describe_auto_scaling_instances()["AutoScalingInstances"]
    }
    assert set(states.values()) == {"Standby"}
    assert autoscaling.describe_auto_scaling_groups()["AutoScalingGroups"][0]["DesiredCapacity"] == 0
    # (moto accepts EnterStandby for an instance already in Standby; AWS refuses it with a
    # ValidationError, which the emulator models and the simulator tests cover)
    assert adapter.exit_standby("web-asg", in_asg) == {}
    assert TargetRegistration(arn_of("web"), "i-0", 80).port == 80  # (the simulator's ARNs are well-formed)
