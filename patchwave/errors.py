"""Errors a user can act on.

Every refusal of bad input is a ``ConfigError`` that names the file, the field and the
value, so the CLI can print one line and exit 2 before anything touches a fleet.
"""

from __future__ import annotations


class PatchwaveError(Exception):
    """Base class for errors patchwave reports to a person rather than as a traceback."""


def printable(text: str) -> str:
    """Text as is when it prints on one line, else its repr: a message is always one line."""
    return text if text.isprintable() else repr(text)


class ConfigError(PatchwaveError):
    """Bad input: a config file, a fleet spec, a CLI argument or a flow parameter."""

    def __init__(self, source: str, field: str, value: object, reason: str) -> None:
        self.source = source
        self.field = field
        self.value = value
        self.reason = reason
        shown = f" = {value!r}" if value is not None else ""
        super().__init__(f"{printable(source)}: {printable(field)}{shown}: {printable(reason)}")


class FleetUnavailable(PatchwaveError):
    """The fleet named on the command line cannot be reached or is not built yet."""
