"""The report's rollback section: what ``patchwave rollback`` did to each chosen instance.

Appended to the run's own report (JSON, Markdown, HTML rewritten atomically), so the run's one
report tells the whole story: what was patched, what failed, and what was put back.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Callable

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


def snapshot_markdown(
    instances: list[tuple[str, list[str]]], rollbacks: list[RollbackSection], escape: Callable[[object], str]
) -> list[str]:
    """Markdown lines for the report: the snapshots taken (per instance) and each rollback;
    ``escape`` makes fleet text literal (the report's own Markdown escaping)."""
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
        lines += [f"| {escape(iid)} | {escape(', '.join(ids))} |" for iid, ids in taken]
    for section in rollbacks:
        lines += [
            "",
            f"## Rollback {escape(section.rollback_id)} ({section.started_at:%Y-%m-%d %H:%M:%S} UTC)",
            "",
            "| instance | snapshot | task | result | detail |",
            "| --- | --- | --- | --- | --- |",
        ]
        lines += [
            f"| {escape(e.instance_id)} | {escape(e.snapshot_id or '-')} | {escape(e.task_id or '-')} | "
            f"{escape(e.result)} | {escape(e.error or '-')} |"
            for e in section.entries
        ]
    return lines


def rollback_html(rollbacks: list[RollbackSection]) -> str:
    """The rollback sections of the HTML report (escaped: ids and errors come from the fleet)."""
    e = html.escape
    parts = []
    for section in rollbacks:
        rows = "".join(
            f"<tr><td>{e(x.instance_id)}</td><td>{e(x.snapshot_id or '-')}</td><td>{e(x.task_id or '-')}</td>"
            f"<td>{e(x.result)}</td><td class='wrap'>{e(x.error or '-')}</td></tr>"
            for x in section.entries
        )
        parts.append(
            f"<h2>Rollback {e(section.rollback_id)} "
            f"<small>{section.started_at:%Y-%m-%d %H:%M:%S} UTC</small></h2>"
            "<table><tr><th>instance</th><th>snapshot</th><th>task</th><th>result</th><th>detail</th></tr>"
            f"{rows}</table>"
        )
    return "\n".join(parts)
