"""The report's per-instance output locations, for the fleet a run talks to (AWS only: the
simulator keeps no command output)."""

from __future__ import annotations

from collections.abc import Callable

from patchwave.connect import FleetHandle
from patchwave.reports.output import output_location


def output_locator(handle: FleetHandle, run_id: str) -> Callable[[str, str, str], dict[str, str]] | None:
    settings = getattr(handle.fleet, "settings", None)
    clients = getattr(handle.fleet, "clients", None)
    if settings is None or clients is None or not hasattr(settings, "output"):
        return None
    region = getattr(getattr(clients, "ssm", None), "meta", None)
    region_name = str(getattr(region, "region_name", "") or "")

    def locate(command_id: str, instance_id: str, platform: str) -> dict[str, str]:
        return output_location(settings.output, region_name, run_id, command_id, instance_id, platform)

    return locate
