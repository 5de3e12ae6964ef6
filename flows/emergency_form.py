"""The emergency form in the Prefect UI: only what an operator fills.

Tags are key/value pairs (a list of small forms with an example) rather than raw JSON; the
rest of the request is ``EmergencyRequest`` as the CLI sends it. The internal settings
(config folder, fleet, report folder, speed) are fixed by the deployment and hidden from the
form (see ``deployments.windows``).
"""

from __future__ import annotations

from prefect import flow
from prefect.states import State
from pydantic import BaseModel, Field, model_validator

from flows.emergency_patch import emergency_patch
from flows.parameters import checked
from flows.patch_window import DEFAULT_FLEET
from flows.run_names import emergency_run_name
from patchwave.window.emergency import EmergencyRequest


class TagPair(BaseModel):
    key: str = Field(
        min_length=1, max_length=128, examples=["Workload"], description="Tag key, e.g. Workload"
    )
    value: str = Field(max_length=256, examples=["Test"], description="Tag value, e.g. Test")


class EmergencyForm(EmergencyRequest):
    tags: list[TagPair] = Field(  # type: ignore[assignment]
        default_factory=list,
        description="...or the instances with these tags (key/value pairs), e.g. Workload = Test.",
        examples=[[{"key": "Workload", "value": "Test"}]],
    )

    @model_validator(mode="after")
    def _valid(self) -> EmergencyForm:  # type: ignore[override]
        self.to_request()  # the same rules as the CLI's request
        return self

    def to_request(self) -> EmergencyRequest:
        grouped: dict[str, list[str]] = {}
        for pair in self.tags:
            grouped.setdefault(pair.key, []).append(pair.value)
        data = self.model_dump(exclude={"tags"})
        return EmergencyRequest.model_validate({**data, "tags": grouped})


@flow(name="emergency-patch", flow_run_name=emergency_run_name)
def emergency_form(
    request: EmergencyForm,
    config_dir: str = "config",
    fleet: str = DEFAULT_FLEET,
    report_dir: str = "reports",
    speed: float | None = None,
) -> State:
    """Patch the named instances now, canary first unless told otherwise (the UI's form; the
    deployment fixes and hides everything after ``request``)."""
    return emergency_patch.fn(request.to_request(), config_dir, fleet, report_dir, speed)


checked(emergency_form)  # deployment parameters: one line, before anything starts
