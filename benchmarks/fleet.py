"""The benchmark's seeded fleet: install times lognormal (median 8 min, p99 40 min), a reboot
for a third of installs, 2% failures, 1% offline, throttling by a token bucket per API.

Presets change the behaviour so that the figures are not one lucky fleet:
- default: as above;
- heavy-tail: installs with a long tail (median 8 min, p99 60 min; with p99 120 min the slowest
  of 3,000 installs takes about 7 hours, hits the 4-hour install timeout, and five such waves
  do not fit the 24-hour window, which is then cut off);
- failures: 6% of installs fail;
- stuck: 1% of agents stuck InProgress and 1% of reboots that never come back.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from patchwave.sim.spec import FleetSpec

# Request rates in the spirit of Systems Manager's (per account and region); SendCommand and the
# listing calls are the ones polling leans on.
API_RATES = {
    "SendCommand": 3.0,
    "ListCommands": 5.0,
    "ListCommandInvocations": 5.0,
    "DescribeInstancePatchStates": 5.0,
    "ListResourceComplianceSummaries": 5.0,
    "DescribeInstanceInformation": 5.0,
}


PRESETS: dict[str, dict[str, Any]] = {
    "default": {},
    "heavy-tail": {"install_minutes": {"median": 8, "p99": 60}},
    "failures": {"failure_rate": 0.06},
    "stuck": {"stuck_rate": 0.01, "reboot_hang_rate": 0.01},
}


def benchmark_spec(
    instances: int, seed: int, preset: str = "default", overrides: dict[str, Any] | None = None
) -> FleetSpec:
    offline = max(1, instances // 100)
    online = instances - offline
    platforms = ("AMAZON_LINUX_2023", "AMAZON_LINUX_2", "UBUNTU", "WINDOWS", "REDHAT_ENTERPRISE_LINUX")
    groups = []
    share = online // len(platforms)
    for index, platform in enumerate(platforms):
        count = share if index < len(platforms) - 1 else online - share * (len(platforms) - 1)
        tags = {"Workload": "Bench"}
        if platform == "AMAZON_LINUX_2023":
            tags["Patch Group"] = "Critical"
        groups.append({"name": f"g-{platform.lower()}", "count": count, "platform": platform, "tags": tags})
    groups.append(
        {
            "name": "offline",
            "count": offline,
            "platform": "AMAZON_LINUX_2023",
            "tags": {"Workload": "Bench"},
            "ping_status": "ConnectionLost",
        }
    )
    return FleetSpec.model_validate(
        {
            "seed": seed,
            "start": dt.datetime(2026, 11, 29, 2, 0, tzinfo=dt.UTC).isoformat(),
            "clock": {"mode": "virtual"},
            "groups": groups,
            "behaviour": {
                "install_minutes": {"median": 8, "p99": 40},
                "scan_minutes": {"median": 1, "p99": 3},
                "reboot_minutes": {"median": 2, "p99": 6},
                "missing_rate": 0.6,
                "reboot_rate": 1 / 3,
                "failure_rate": 0.02,
                "api_latency_ms": 80,
                "throttling": {"enabled": True, "rate_per_second": 5, "burst": 20, "per_api": API_RATES},
                **PRESETS[preset],
                **(overrides or {}),
            },
        }
    )
