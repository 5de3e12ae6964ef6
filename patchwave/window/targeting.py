"""Which managed instances a window's targets select (pure)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from patchwave.config.windows import Targets
from patchwave.fleet import ManagedInstance


def tags_match(tags: Mapping[str, str], wanted: Mapping[str, list[str]]) -> bool:
    """Every key must be present with one of its listed values ('*' for any value)."""
    for key, values in wanted.items():
        value = tags.get(key)
        if value is None or ("*" not in values and value not in values):
            return False
    return True


def matches(instance: ManagedInstance, targets: Targets) -> bool:
    if targets.instance_ids and instance.instance_id not in targets.instance_ids:
        return False
    if targets.patch_groups and instance.patch_group not in targets.patch_groups:
        return False
    return tags_match(instance.tags, targets.tags)


def select(instances: Iterable[ManagedInstance], targets: Targets) -> list[ManagedInstance]:
    """The instances a window covers, in instance-id order (plans are deterministic)."""
    return sorted((i for i in instances if matches(i, targets)), key=lambda i: i.instance_id)
