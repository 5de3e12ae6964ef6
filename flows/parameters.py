"""Deployment parameters get the CLI's treatment: one line, before anything starts.

A run created from the UI (or ``run_deployment``) has its parameters validated by the flow
engine (``Flow.validate_parameters``: types and coercion) before the flow body runs; a refusal
there ends the run Failed with pydantic's multi-line list. ``checked(flow)`` wraps that same
validation so that its refusal is one line naming the parameter and value, and adds the checks
of values the types let through (``patchwave.config.parameters``): the run then ends Failed,
in one line, before the flow's body, any fleet or any file. Workers load flows from their
module, so the wrapping (done there, at import) is what every deployment run goes through.
"""

from __future__ import annotations

from typing import Any, TypeVar

from prefect import Flow
from prefect.exceptions import ParameterTypeError

from patchwave.config.parameters import SOURCE, check_parameters
from patchwave.errors import ConfigError

F = TypeVar("F", bound=Flow[Any, Any])


def one_line(exc: ParameterTypeError, parameters: dict[str, Any]) -> ConfigError:
    """Prefect's '... invalid parameters:\\n - speed: Input should be ...' as one ConfigError."""
    bullets = [line.strip()[2:] for line in str(exc).splitlines() if line.strip().startswith("- ")]
    if not bullets:
        return ConfigError(SOURCE, "parameters", None, " ".join(str(exc).split()))
    where, _, reason = bullets[0].partition(": ")
    value = parameters.get(where.split(".")[0])
    more = f" (and {len(bullets) - 1} more)" if len(bullets) > 1 else ""
    return ConfigError(SOURCE, where, value, reason + more)


def checked(flow_obj: F) -> F:
    """This flow's parameters validated by Prefect, then checked, each refusal one line."""
    prefect_validation = flow_obj.validate_parameters

    def validate_parameters(parameters: dict[str, Any]) -> dict[str, Any]:
        try:
            values = prefect_validation(parameters)
        except ParameterTypeError as exc:
            raise one_line(exc, parameters) from None
        check_parameters(values)
        return values

    flow_obj.validate_parameters = validate_parameters  # type: ignore[method-assign]
    return flow_obj
