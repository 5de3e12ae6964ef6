"""The report's per-instance drill-down: which patches were missing before the run, and how
each stood after it (installed, still missing, failed).

Read once, after verification, wave by wave, 50 instances at a time, for the instances a wave
sent an install command to (the others changed nothing: already compliant, offline, not
attempted). One DescribeInstancePatches read after the run says both sides, which keeps the
cost to one call per patched instance and survives a resumed or retried run (nothing is held
between before and after):

- a patch installed at or after the run's start (its InstalledTime) was missing before: it
  reads MISSING before, its state now after;
- a patch still non-compliant (MISSING, FAILED, INSTALLED_PENDING_REBOOT, INSTALLED_REJECTED)
  was so before too; one that FAILED reads MISSING before (the run tried it: whether an earlier
  run had failed it as well, one report cannot say).

InstalledTime: "not all operating systems provide this level of information" (the API). A
time at midnight exactly is read as a date (Windows reports the day a KB was installed), so it
counts as installed in the run when it falls on or after the run's first day. Memory stays
bounded at 10,000 instances: only the patches that changed or are still non-compliant are
kept, never the installed set.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from patchwave.fleet import Fleet, InstancePatch, chunks
from patchwave.reports.report import PatchesBeforeAfter, PatchLine
from patchwave.window.runner import WaveResult

NON_COMPLIANT = frozenset({"MISSING", "FAILED", "INSTALLED_PENDING_REBOOT", "INSTALLED_REJECTED"})
INSTALLED = frozenset({"INSTALLED", "INSTALLED_OTHER", "INSTALLED_PENDING_REBOOT"})


def installed_in_run(patch: InstancePatch, since: dt.datetime) -> bool:
    when = patch.installed_time
    if patch.state not in INSTALLED or when is None:
        return False
    when = when if when.tzinfo else when.replace(tzinfo=dt.UTC)
    if when.time() == dt.time() and when.microsecond == 0:  # a date, not a time
        return when.date() >= since.astimezone(dt.UTC).date()
    return when >= since


def _line(patch: InstancePatch, state: str) -> PatchLine:
    return PatchLine(id=patch.id, severity=patch.severity, classification=patch.classification, state=state)


def before_and_after(patches: Sequence[InstancePatch], since: dt.datetime) -> PatchesBeforeAfter | None:
    """One instance's lists (None when nothing was missing and nothing changed)."""
    before: list[PatchLine] = []
    after: list[PatchLine] = []
    for patch in patches:
        if installed_in_run(patch, since):
            before.append(_line(patch, "MISSING"))
        elif patch.state in NON_COMPLIANT:
            before.append(_line(patch, "MISSING" if patch.state == "FAILED" else patch.state))
        else:
            continue
        after.append(_line(patch, patch.state))
    return PatchesBeforeAfter(before=before, after=after) if before else None


def attempted(results: Sequence[WaveResult], which: str = "all") -> list[list[str]]:
    """Per wave, the instances it sent an install command to ('failed': those not patched)."""
    return [
        [r.instance_id for r in wave.results if r.command_id and (which == "all" or r.outcome != "patched")]
        for wave in results
    ]


def read_patch_lists(
    fleet: Fleet, results: Sequence[WaveResult], since: dt.datetime, which: str = "all"
) -> dict[str, PatchesBeforeAfter]:
    """Instance id -> its lists, for every instance a wave attempted that has something to show."""
    found: dict[str, PatchesBeforeAfter] = {}
    for ids in attempted(results, which):
        for chunk in chunks(ids):
            for iid, patches in fleet.instance_patches(chunk).items():
                lists = before_and_after(patches, since)
                if lists is not None:
                    found[iid] = lists
    return found
