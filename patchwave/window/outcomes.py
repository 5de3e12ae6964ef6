"""The outcome vocabulary: one outcome per planned instance, always."""

from __future__ import annotations

from enum import StrEnum


class Outcome(StrEnum):
    PATCHED = "patched"
    ALREADY_COMPLIANT = "already_compliant"
    SKIPPED_OFFLINE = "skipped_offline"
    FAILED_INSTALL = "failed_install"
    TIMED_OUT = "timed_out"
    FAILED_REBOOT = "failed_reboot"
    FAILED_VERIFICATION = "failed_verification"
    NOT_ATTEMPTED = "not_attempted"
    CANCELLED = "cancelled"


# The outcomes that count toward a wave's max_errors (Run Command counts Failed and Execution
# Timed Out; patchwave adds what its own reboot wait and verification find).
ERRORS = frozenset(
    {
        Outcome.FAILED_INSTALL,
        Outcome.TIMED_OUT,
        Outcome.FAILED_REBOOT,
        Outcome.FAILED_VERIFICATION,
    }
)

# The outcomes a retry of a run takes up again.
RETRYABLE = ERRORS | {Outcome.NOT_ATTEMPTED}


def from_invocation(status: str, details: str) -> Outcome | None:
    """Classify a finished install invocation; None means it succeeded (verification next).

    Delivery Timed Out and Undeliverable mean the instance was not reachable: like Run Command,
    they do not count toward max_errors, and the instance is reported skipped_offline.
    """
    if status == "Success":
        return None
    if details in ("DeliveryTimedOut", "Delivery Timed Out", "Undeliverable", "Terminated"):
        return Outcome.SKIPPED_OFFLINE
    if status == "TimedOut":
        return Outcome.TIMED_OUT
    if status == "Cancelled":
        return Outcome.CANCELLED
    return Outcome.FAILED_INSTALL
