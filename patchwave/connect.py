"""Choosing the fleet is configuration: ``sim:PATH`` or ``aws``, never a code path in a flow.

This module is the one place that knows both adapters; flows call ``open_fleet``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from patchwave.clock import Clock, WallClock
from patchwave.config import Config
from patchwave.errors import ConfigError, FleetUnavailable
from patchwave.fleet import Fleet
from patchwave.reports.notify import NoNotifier, Notifier
from patchwave.state.leases import Leases, MemoryLeases
from patchwave.state.store import LocalRunStore, RunStore


@dataclass(frozen=True)
class FleetHandle:
    fleet: Fleet
    clock: Clock
    description: str
    notifier: Notifier = field(default_factory=NoNotifier)
    leases: Leases = field(default_factory=MemoryLeases)
    runs: RunStore = field(default_factory=LocalRunStore)


_SIM_LEASES = MemoryLeases()


def parse_fleet_option(value: str) -> tuple[str, str]:
    """'sim:PATH' -> ('sim', PATH); 'aws' -> ('aws', '')."""
    if value == "aws":
        return "aws", ""
    if value.startswith("sim:") and len(value) > 4:
        return "sim", value[4:]
    raise ConfigError("--fleet", "fleet", value, "expected 'sim:PATH' or 'aws'")


def open_fleet(value: str, config: Config, speed: float | None = None) -> FleetHandle:
    kind, path = parse_fleet_option(value)
    if kind == "sim":
        from patchwave.sim import load_spec, open_simulated

        spec = load_spec(path)
        simulated, clock = open_simulated(spec, config.baselines, speed)
        described = f"simulated fleet {path} (seed {spec.seed})"
        if config.aws.shared.leases_table or config.aws.shared.bucket:
            # rehearsing several workers: the shared stores, explicitly named in config/aws.yaml
            from patchwave.aws.shared import open_shared

            leases, runs = open_shared(config.aws)
            return FleetHandle(simulated, clock, described, leases=leases, runs=runs)
        # a simulated fleet lives in this process: so do the leases of its instances
        return FleetHandle(simulated, clock, described, leases=_SIM_LEASES)
    from patchwave.aws import open_aws
    from patchwave.aws.shared import open_shared

    aws_fleet, notifier, who = open_aws(config.aws)
    leases, runs = open_shared(config.aws, aws_fleet.clients)
    return FleetHandle(aws_fleet, WallClock(), who, notifier, leases, runs)


def open_run_store(config: Config) -> RunStore:
    """Where runs keep ledgers and reports, without opening a fleet (retry looks there first)."""
    if not config.aws.shared.bucket:
        return LocalRunStore()
    from patchwave.aws.shared import open_shared

    return open_shared(config.aws)[1]


def open_member_fleet(
    value: str, config: Config, account: str, region: str, speed: float | None
) -> FleetHandle:
    """A member account-region of a multi-account window: its role is assumed first (refused
    access fails here), then its fleet ('aws', or 'sim:PATH' with {account}/{region} in PATH
    for a rehearsal); the shared stores stay the orchestrator's."""
    from botocore.exceptions import BotoCoreError, ClientError

    from patchwave.aws.members import member_clients, member_settings
    from patchwave.aws.session import check_credentials
    from patchwave.aws.shared import open_shared

    settings = member_settings(config.aws, account, region)
    try:
        clients = member_clients(config.aws, account, region)
    except (ClientError, BotoCoreError) as exc:
        raise FleetUnavailable(f"account {account}: cannot assume {settings.role_arn}: {exc}") from None
    who = check_credentials(clients)
    if f"account {account} " not in who:
        raise FleetUnavailable(f"the role for account {account} reached another account: {who}")
    from patchwave.state.scoped import ScopedLeases

    shared_leases, runs = open_shared(config.aws)
    leases = ScopedLeases(shared_leases, f"{account}/{region}")
    kind, path = parse_fleet_option(value)
    if kind == "sim":
        from patchwave.sim import load_spec, open_simulated

        member_path = path.format(account=account, region=region)
        spec = load_spec(member_path)
        simulated, clock = open_simulated(spec, config.baselines, speed)
        described = f"simulated fleet {member_path} as {who}"
        return FleetHandle(simulated, clock, described, leases=leases, runs=runs)
    from patchwave.aws import AwsFleet, AwsNotifier

    notifier = AwsNotifier(clients, settings)
    return FleetHandle(AwsFleet(clients, settings), WallClock(), who, notifier, leases, runs)
