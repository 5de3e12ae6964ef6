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
    NOT_DELIVERED = "not_delivered"  # Run Command refused to run it there: AccessDenied, ...


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
RETRYABLE = ERRORS | {Outcome.NOT_ATTEMPTED, Outcome.NOT_DELIVERED}

# StatusDetails (spaces removed) of invocations that never ran on their node. Run Command does
# not count them in a command's ErrorCount (only Failed and Execution Timed Out count), and
# neither does patchwave, unless a window says they count (``count_undelivered_as_errors``).
UNREACHABLE_DETAILS = frozenset({"DeliveryTimedOut", "Undeliverable"})
REFUSED_DETAILS = frozenset({"AccessDenied", "InvalidPlatform", "Terminated"})
UNDELIVERED_DETAILS = UNREACHABLE_DETAILS | REFUSED_DETAILS


def squeeze(details: str) -> str:
    """'Delivery Timed Out' -> 'DeliveryTimedOut': one spelling for both forms AWS uses."""
    return details.replace(" ", "")


def counts_as_error(status: str, details: str) -> bool:
    """What a command's ErrorCount counts: Failed and Execution Timed Out, nothing else."""
    details = squeeze(details)
    if status == "Failed":
        return details not in UNDELIVERED_DETAILS
    return status == "TimedOut" and details not in UNDELIVERED_DETAILS


def from_invocation(status: str, details: str) -> Outcome | None:
    """Classify a finished install invocation; None means it succeeded (verification next).

    Delivery Timed Out and Undeliverable mean the node was not reachable: skipped_offline.
    AccessDenied, InvalidPlatform and Terminated (Run Command cancelled it past its MaxErrors)
    mean it was refused there: not_delivered. Neither counts toward max_errors (as in Run
    Command) unless the window says so; the status details say which it was.
    """
    details = squeeze(details)
    if status == "Success":
        return None
    if details in UNREACHABLE_DETAILS:
        return Outcome.SKIPPED_OFFLINE
    if details in REFUSED_DETAILS:
        return Outcome.NOT_DELIVERED
    if status == "TimedOut":
        return Outcome.TIMED_OUT
    if status == "Cancelled":
        return Outcome.CANCELLED
    return Outcome.FAILED_INSTALL
