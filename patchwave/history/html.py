"""The history page: one self-contained HTML file, trend charts drawn as inline SVG.

No script, no CDN, no external font: the page reads the same in a mail client, an air-gapped
browser or a printout. Charts are plain polylines over a time axis, with their numbers in tables
under them (a chart should never be the only place a figure is).
"""

from __future__ import annotations

import datetime as dt
import math
from html import escape
from typing import Any

PALETTE = ("#b91c1c", "#ea580c", "#ca8a04", "#2563eb", "#7c3aed", "#6b7280", "#059669", "#db2777")
W, H, PAD_L, PAD_R, PAD_T, PAD_B = 720, 240, 48, 150, 16, 36

Series = dict[str, list[tuple[dt.datetime, float]]]


def _x(at: dt.datetime, lo: dt.datetime, hi: dt.datetime) -> float:
    span = (hi - lo).total_seconds() or 1.0
    return PAD_L + (W - PAD_L - PAD_R) * (at - lo).total_seconds() / span


def _y(value: float, top: float) -> float:
    return PAD_T + (H - PAD_T - PAD_B) * (1 - (value / top if top else 0))


def line_chart(title: str, series: Series, unit: str = "", top: float | None = None) -> str:
    """An SVG line chart of time series; a one-point series is a dot."""
    points = [p for values in series.values() for p in values]
    if not points:
        return f'<p class="empty">{escape(title)}: nothing recorded yet.</p>'
    lo = min(at for at, _ in points)
    hi = max(at for at, _ in points)
    if lo == hi:
        lo, hi = lo - dt.timedelta(hours=12), hi + dt.timedelta(hours=12)
    top = top if top is not None else float(max(4, math.ceil(max(v for _, v in points) * 1.1)))
    stamp = "%Y-%m-%d" if hi - lo > dt.timedelta(days=3) else "%m-%d %H:%M"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" height="{H}" '
        f'role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
    ]
    for frac in (0, 0.25, 0.5, 0.75, 1):
        y = _y(top * frac, top)
        parts.append(f'<line x1="{PAD_L}" x2="{W - PAD_R}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e5e7eb"/>')
        parts.append(
            f'<text x="{PAD_L - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11">'
            f"{top * frac:.3g}{unit}</text>"
        )
    for at in (lo, lo + (hi - lo) / 2, hi):
        x = _x(at, lo, hi)
        parts.append(
            f'<text x="{x:.1f}" y="{H - PAD_B + 16}" text-anchor="middle" font-size="11">{at:{stamp}}</text>'
        )
    for index, (name, values) in enumerate(series.items()):
        color = PALETTE[index % len(PALETTE)]
        coords = [(_x(at, lo, hi), _y(v, top)) for at, v in sorted(values)]
        if len(coords) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
            parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{path}"/>')
        for x, y in coords:
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{color}"/>')
        ly = PAD_T + 14 * index + 8
        parts.append(f'<rect x="{W - PAD_R + 10}" y="{ly - 8}" width="10" height="10" fill="{color}"/>')
        parts.append(f'<text x="{W - PAD_R + 24}" y="{ly + 1}" font-size="11">{escape(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _when(text: str | None) -> dt.datetime:
    assert text is not None
    return dt.datetime.fromisoformat(text)


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    if not rows:
        return '<p class="empty">none</p>'
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def charts(summary: dict[str, Any]) -> dict[str, str]:
    """The page's charts, by heading."""
    around: Series = {}  # one line a window: its start (before) to its end (after)
    for run in summary["runs"]:
        label = f"{run['name']} {run['started_at'][5:10]}"
        for key, at_key in (("before", "started_at"), ("after", "finished_at")):
            agg = run.get(key) or {}
            if agg.get("total") and run["kind"] != "scan" and run["kind"] != "import":
                around.setdefault(label, []).append(
                    (_when(run[at_key]), 100.0 * agg["compliant"] / agg["total"])
                )
    overall: Series = {"all instances": [(_when(p["at"]), p["percent_compliant"]) for p in summary["trend"]]}
    groups: Series = {}
    severities: Series = {}
    for point in summary["trend"]:
        at = _when(point["at"])
        for group, counts in point["by_group"].items():
            groups.setdefault(group, []).append(
                (at, 100.0 * counts["compliant"] / max(1, counts["observed"]))
            )
        for level, count in point["non_compliant_by_severity"].items():
            severities.setdefault(level, []).append((at, float(count)))
    severities = {k: v for k, v in severities.items() if any(c for _, c in v)}
    success: Series = {"success rate": [(_when(w["at"]), w["rate"]) for w in summary["window_success"]]}
    return {
        "Compliance before and after each window (% of the window's instances)": line_chart(
            "compliance before and after", dict(list(around.items())[-8:]), "%", 100
        ),
        "Compliance over time (% of observed instances)": line_chart("compliance", overall, "%", 100),
        "Compliance by patch group (%)": line_chart("compliance by patch group", groups, "%", 100),
        "Non-compliant instances by severity": line_chart("non-compliant instances by severity", severities),
        "Window success rate (%)": line_chart("window success rate", success, "%", 100),
    }


STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #111827; max-width: 960px; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.15rem; margin-top: 2rem; }
table { border-collapse: collapse; margin: .5rem 0; font-size: .85rem; }
th, td { border: 1px solid #d1d5db; padding: .2rem .5rem; text-align: left; white-space: nowrap; }
th { background: #f3f4f6; } .empty { color: #6b7280; } svg { max-width: 100%; height: auto; }
"""


def to_html(summary: dict[str, Any], title: str = "patchwave compliance history") -> str:
    sections = [f"<h1>{escape(title)}</h1>"]
    sections.append(
        f"<p>{len(summary['runs'])} run(s) recorded; SLA policy: "
        + escape(", ".join(f"{k} {v} days" for k, v in summary["sla_policy_days"].items()) or "none")
        + "</p>"
    )
    for heading, svg in charts(summary).items():
        sections.append(f"<h2>{escape(heading)}</h2>{svg}")
    sections.append("<h2>Runs</h2>")
    sections.append(
        _table(
            [
                "started",
                "kind",
                "name",
                "status",
                "instances",
                "compliant before",
                "compliant after",
                "success %",
            ],
            [
                [
                    r["started_at"],
                    r["kind"] + (" (imported)" if r["imported"] else ""),
                    r["name"],
                    r["status"],
                    r["instances"],
                    r["compliant_before"],
                    r["compliant_after"],
                    "" if r["success_rate"] is None else r["success_rate"],
                ]
                for r in summary["runs"]
            ],
        )
    )
    for basis, label in (("release", "from release"), ("first_seen", "from first seen missing")):
        sections.append(f"<h2>Time to patch, {label} (days)</h2>")
        sections.append(
            _table(
                ["severity", "patches", "mean", "p90"],
                [
                    [t["severity"], t["count"], t["mean_days"], t["p90_days"]]
                    for t in summary["time_to_patch"][basis]
                ],
            )
        )
    breaches = summary["sla_breaches"]
    sections.append(f"<h2>SLA breaches ({len(breaches)})</h2>")
    sections.append(
        _table(
            ["instance", "patch", "severity", "due", "installed", "days late"],
            [
                [
                    b["instance_id"],
                    b["patch_id"],
                    b["severity"],
                    b["due"],
                    b["installed_at"] or "not yet",
                    b["days_late"],
                ]
                for b in breaches[:500]
            ],
        )
    )
    fell = summary["fell_out_of_compliance"]
    sections.append(f"<h2>Fell out of compliance ({len(fell)})</h2>")
    sections.append(
        _table(
            ["instance", "compliant at", "non-compliant at", "patches"],
            [
                [f["instance_id"], f["compliant_at"], f["non_compliant_at"], " ".join(f["patches"][:6])]
                for f in fell[:500]
            ],
        )
    )
    body = "\n".join(sections)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>\n{body}\n</body></html>\n"
    )
