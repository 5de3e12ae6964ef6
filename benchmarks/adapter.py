"""The window through the AWS adapter: boto3 clients that validate every request against the
botocore service models, the adapter's own paging, retries and call counting, answered at the
HTTP layer by the request emulator in front of the same simulated fleet.

The emulator is the one the adapter's tests use (``patchwave.sim.emulator``); here it answers
Systems Manager as HTTP responses (so botocore parses them and its retry logic runs), without
injected faults. Health checks are left off on this path: the emulator's one target group holds
the whole fleet, which no real target group does (the simulator path charges them).
"""

from __future__ import annotations

from typing import Any

import boto3

from benchmarks.measure import CpuMeter
from patchwave.aws.fleet import AwsFleet
from patchwave.aws.session import AwsClients
from patchwave.clock import Clock
from patchwave.config.aws import AwsSettings
from patchwave.sim.emulator import Emulator
from patchwave.sim.fleet import SimulatedFleet

REGION = "eu-west-1"


def ssm_operations() -> frozenset[str]:
    """Every Systems Manager operation name, from the service model (what counts as an SSM call)."""
    from botocore.session import get_session

    return frozenset(get_session().get_service_model("ssm").operation_names)


def aws_fleet(sim: SimulatedFleet, clock: Clock, meter: CpuMeter) -> tuple[AwsFleet, Any]:
    """An AwsFleet whose requests the emulator answers from ``sim``; returns it and the emulator.
    The emulator's handlers (and the simulator behind them) are charged to ``meter``."""
    session = boto3.Session(aws_access_key_id="bench", aws_secret_access_key="bench", region_name=REGION)
    emulator = Emulator(sim)
    meter.wrap(emulator, [name for name in EMULATOR_ENTRY_POINTS if hasattr(emulator, name)])
    emulator.install_http(session, throttle_rate=0.0, error_rate=0.0, seed=sim.spec.seed)
    clients = AwsClients(session)
    return AwsFleet(clients, AwsSettings.model_validate({"region": REGION}), clock=clock), emulator


EMULATOR_ENTRY_POINTS = ("_http", "_answer", "_answer_unless_ssm")
SIMULATOR_VERBS = (
    "list_instances",
    "send_patch_command",
    "command_progress",
    "list_invocations",
    "cancel_command",
    "patch_states",
    "compliance",
    "ping_status",
    "reboot",
    "health",
)
