"""The daily compliance scan: Scan the whole fleet (nothing installed), record history.

Patch Manager overwrites each node's compliance at every scan; this deployment keeps a point a
day, so history sees a patch go missing between windows (time to patch from first seen missing,
instances falling out of compliance) rather than only at window time.
"""

from __future__ import annotations

from prefect import flow

from flows.parameters import checked
from flows.patch_window import DEFAULT_FLEET
from flows.scan_fleet import scan_fleet


@flow(name="compliance-scan")
def compliance_scan(
    config_dir: str = "config",
    fleet: str = DEFAULT_FLEET,
    timeout_minutes: int = 30,
    speed: float | None = None,
) -> dict[str, object]:
    """Scan every managed instance and record what each reports (the scan flow's body, in this run)."""
    return scan_fleet.fn(config_dir=config_dir, fleet=fleet, timeout_minutes=timeout_minutes, speed=speed)


checked(compliance_scan)  # deployment parameters: one line, before anything starts
