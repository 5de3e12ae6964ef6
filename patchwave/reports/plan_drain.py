"""What ``patchwave plan`` shows of drain and hooks: per wave, the target groups and Auto
Scaling groups its instances would be taken out of (read from the fleet now: DescribeTargetGroups,
DescribeTargetHealth, DescribeTargetGroupAttributes, DescribeAutoScalingInstances; nothing is
changed) and the hooks that would run."""

from __future__ import annotations

from collections import Counter
from typing import Any

from patchwave.config.windows import Window
from patchwave.fleet import Fleet
from patchwave.window.drain import DrainPolicy, wave_drains
from patchwave.window.hooks import HookSpec
from patchwave.window.planning import Plan


def _hook(spec: HookSpec | None) -> dict[str, Any] | None:
    if spec is None:
        return None
    return {
        "command": spec.command,
        "document": spec.document,
        "parameters": {k: list(v) for k, v in spec.parameters},
        "timeout_seconds": spec.timeout_seconds,
    }


def plan_drains(fleet: Fleet, window: Window, plan: Plan) -> dict[str, dict[str, Any]]:
    """Per wave (those with drain or hooks): the groups, instance counts, delays and hooks."""
    policies: dict[str, DrainPolicy] = dict(wave_drains(window))
    found: dict[str, dict[str, Any]] = {}
    delays: dict[str, int] = {}
    for wave in plan.waves:
        policy = policies.get(wave.name)
        if policy is None:
            continue
        groups: Counter[str] = Counter()
        asgs: Counter[str] = Counter()
        if policy.drain and wave.install_ids:
            members = fleet.service_memberships(list(wave.install_ids), policy.target_groups)
            for member in members.values():
                if policy.elb:
                    groups.update({t.target_group_arn for t in member.targets})
                if policy.auto_scaling and member.auto_scaling_group:
                    asgs[member.auto_scaling_group] += 1
            unknown = sorted(set(groups) - set(delays))
            if unknown:
                delays.update(fleet.deregistration_delays(unknown))
        found[wave.name] = {
            "drain": policy.drain,
            "target_groups": [
                {"arn": arn, "instances": n, "deregistration_delay_seconds": delays.get(arn)}
                for arn, n in sorted(groups.items())
            ],
            "auto_scaling_groups": [{"name": name, "instances": n} for name, n in sorted(asgs.items())],
            "pre_install": _hook(policy.pre),
            "post_verify": _hook(policy.post),
        }
    return found


def drain_lines(drains: dict[str, dict[str, Any]], plan: Plan) -> list[str]:
    lines = []
    for wave in plan.waves:
        got = drains.get(wave.name)
        if got is None:
            lines.append(f"wave {wave.name}: no drain, no hooks")
            continue
        parts = []
        if got["drain"]:
            tgs = ", ".join(
                f"{t['arn'].split('/')[-2]} ({t['instances']} instance(s), "
                f"delay {t['deregistration_delay_seconds']} s)"
                for t in got["target_groups"]
            )
            asgs = ", ".join(
                f"{a['name']} ({a['instances']} instance(s))" for a in got["auto_scaling_groups"]
            )
            parts.append(
                f"drain from target groups: {tgs or 'none found'}; "
                f"Standby in Auto Scaling groups: {asgs or 'none found'}"
            )
        else:
            parts.append("no drain")
        for phase, name in (("pre_install", "pre-install"), ("post_verify", "post-verify")):
            hook = got[phase]
            if hook is None:
                parts.append(f"{name} hook: none")
            else:
                what = f"document {hook['document']}" if hook["document"] else f"command {hook['command']!r}"
                parts.append(f"{name} hook: {what} (timeout {hook['timeout_seconds']} s)")
        lines.append(f"wave {wave.name}: " + "; ".join(parts))
    return lines
