"""Approval between waves: what was decided, by whom, recorded in the report."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, Field


class Decision(BaseModel):
    wave: str
    decision: Literal["approved", "aborted", "timed_out", "unreachable"]
    decided_by: str = ""
    note: str = ""
    excluded: list[str] = Field(default_factory=list)
    at: dt.datetime
