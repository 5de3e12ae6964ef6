"""The report's rollback section: what ``patchwave rollback`` did to each chosen instance.

Appended to the run's own report (JSON, Markdown, HTML rewritten atomically), so the run's one
report tells the whole story: what was patched, what failed, and what was put back.
"""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field


class RollbackEntry(BaseModel):
    instance_id: str
    snapshot_id: str = Field(default="", description="The pre-patch root volume snapshot restored.")
    task_id: str = Field(
        default="", description="The replace-root-volume task (CreateReplaceRootVolumeTask)."
    )
    result: str = Field(description="restored | failed")
    error: str = ""
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None


class RollbackSection(BaseModel):
    rollback_id: str
    started_at: dt.datetime
    finished_at: dt.datetime
    entries: list[RollbackEntry]

    @property
    def counts(self) -> dict[str, int]:
        found: dict[str, int] = {}
        for entry in self.entries:
            found[entry.result] = found.get(entry.result, 0) + 1
        return found


def snapshot_markdown(instances: list[tuple[str, list[str]]], rollbacks: list[RollbackSection]) -> list[str]:
    """Markdown lines for the report: the snapshots taken (per instance) and each rollback."""
    lines: list[str] = []
    taken = [(iid, ids) for iid, ids in instances if ids]
    if taken:
        lines += [
            "",
            "## Snapshots before install",
            "",
            "| instance | snapshots (root first) |",
            "| --- | --- |",
        ]
        lines += [f"| {iid} | {', '.join(ids)} |" for iid, ids in taken]
    for section in rollbacks:
        lines += [
            "",
            f"## Rollback {section.rollback_id} ({section.started_at:%Y-%m-%d %H:%M:%S} UTC)",
            "",
            "| instance | snapshot | task | result | detail |",
            "| --- | --- | --- | --- | --- |",
        ]
        lines += [
            f"| {e.instance_id} | {e.snapshot_id or '-'} | {e.task_id or '-'} | {e.result} | "
            f"{e.error.replace('|', '/') or '-'} |"
            for e in section.entries
        ]
    return lines
