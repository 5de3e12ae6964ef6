"""One report over every account-region of a multi-account window: each child run's status,
totals and links, and the sums. The children's own reports stay the detail."""

from __future__ import annotations

import datetime as dt
from collections import Counter

from pydantic import BaseModel, Field


class TargetResult(BaseModel):
    account: str
    region: str
    wave: str
    status: str = Field(description="The child window's status, or failed / not_started.")
    message: str = ""
    flow_run_id: str | None = None
    run_link: str | None = None
    report_link: str | None = None
    totals: dict[str, int] = Field(default_factory=dict)


class AccountsReport(BaseModel):
    window: str
    run_id: str
    started_at: dt.datetime
    finished_at: dt.datetime
    status: str
    stop_reason: str = ""
    max_concurrent: int
    targets: list[TargetResult]

    @property
    def totals(self) -> dict[str, int]:
        summed: Counter[str] = Counter()
        for target in self.targets:
            summed.update(target.totals)
        return dict(sorted(summed.items()))

    @property
    def failed(self) -> list[TargetResult]:
        return [t for t in self.targets if t.status not in ("succeeded", "not_started")]

    def to_markdown(self) -> str:
        lines = [
            f"# Window {self.window} over {len({t.account for t in self.targets})} account(s): {self.status}",
            "",
            f"- run {self.run_id}, {self.started_at:%Y-%m-%d %H:%M} to {self.finished_at:%H:%M} UTC",
            f"- at most {self.max_concurrent} account(s) at once",
            f"- instances: {', '.join(f'{k} {v}' for k, v in self.totals.items() if v) or 'none'}",
        ]
        if self.stop_reason:
            lines.append(f"- stopped: {self.stop_reason}")
        lines += ["", "| wave | account | region | status | instances | run | report | message |"]
        lines.append("| --- | --- | --- | --- | --- | --- | --- | --- |")
        for t in self.targets:
            counts = ", ".join(f"{k} {v}" for k, v in t.totals.items() if v)
            run = f"[{t.flow_run_id[:8]}]({t.run_link})" if t.flow_run_id and t.run_link else ""
            report = f"[report]({t.report_link})" if t.report_link else ""
            message = t.message.replace("|", "/").replace("\n", " ")[:300]
            lines.append(
                f"| {t.wave} | {t.account} | {t.region} | {t.status} | {counts} | {run} | {report} "
                f"| {message} |"
            )
        return "\n".join(lines) + "\n"


def overall_status(targets: list[TargetResult], stop_reason: str) -> str:
    """succeeded when every target succeeded; halted when the parent stopped starting waves;
    else partial (some account-regions failed within what the threshold allows)."""
    if stop_reason:
        return "halted"
    return "succeeded" if all(t.status == "succeeded" for t in targets) else "partial"
