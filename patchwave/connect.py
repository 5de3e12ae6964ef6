"""Choosing the fleet is configuration: ``sim:PATH`` or ``aws``, never a code path in a flow.

This module is the one place that knows both adapters; flows call ``open_fleet``.
"""

from __future__ import annotations

import os
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
        return FleetHandle(simulated, clock, described, leases=sim_leases())
    from patchwave.aws import open_aws
    from patchwave.aws.shared import open_shared

    aws_fleet, notifier, who = open_aws(config.aws)
    leases, runs = open_shared(config.aws, aws_fleet.clients)
    return FleetHandle(aws_fleet, WallClock(), who, notifier, leases, runs)


def sim_leases() -> Leases:
    """A simulated fleet's leases live in this process, unless ``$PATCHWAVE_LEASES`` names a
    lease file (processes on this machine then share it, as runs on a real fleet do)."""
    if os.environ.get("PATCHWAVE_LEASES"):
        from patchwave.state.sqlite_leases import SqliteLeases

        return SqliteLeases()
    return _SIM_LEASES


def open_leases(value: str, config: Config) -> Leases:
    """The lease store a run with this ``--fleet`` uses, without opening the fleet: the
    shared one config/aws.yaml names, else SQLite on this machine (simulated: ``sim_leases``)."""
    kind, _ = parse_fleet_option(value)
    if kind == "sim" and not (config.aws.shared.leases_table or config.aws.shared.bucket):
        return sim_leases()
    from patchwave.aws.shared import open_shared

    return open_shared(config.aws)[0]


def check_run_free(value: str, config: Config, run_id: str) -> None:
    """Refuse (RunInUse, or ConfigError for a bad id) a run id another live process holds."""
    from patchwave.state.ledger import check_run_id
    from patchwave.state.run_claim import check_run_free as check_free
    from patchwave.state.sqlite_leases import default_path

    check_run_id(run_id)
    kind, _ = parse_fleet_option(value)
    shared = config.aws.shared
    if not shared.leases_table:  # nothing is created to find nothing
        if kind == "sim" and not shared.bucket and not os.environ.get("PATCHWAVE_LEASES"):
            return  # in-process leases: no other process's claim can be seen (nor exist)
        if not default_path().exists():
            return  # no lease file yet: nobody claims anything
    check_free(open_leases(value, config), run_id)


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
