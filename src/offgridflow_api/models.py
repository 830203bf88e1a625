"""Request and response bodies of the /v1 API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field


def _printable(text: str) -> str:
    # PostgreSQL text cannot hold NUL, and control characters in a source or unit are always a mistake
    if any(ord(char) < 32 or ord(char) == 127 for char in text):
        raise ValueError("must not contain control characters")
    if not text.strip():
        raise ValueError("must not be blank")
    return text


Label = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_printable)]
Unit = Annotated[str, Field(min_length=1, max_length=32), AfterValidator(_printable)]


class ActivityIn(BaseModel):
    """A carbon-activity record: how much of what, when, from which source."""

    model_config = ConfigDict(extra="forbid")

    source: Label = Field(description="Where the activity comes from, e.g. 'diesel-generator-2'")
    quantity: float = Field(ge=0, le=1e12, allow_inf_nan=False, description="Amount in `unit`")
    unit: Unit = Field(description="Unit of `quantity`, e.g. 'kWh' or 'L'")
    occurred_at: AwareDatetime = Field(description="When it happened (with a time zone)")


class ActivityCreated(BaseModel):
    id: int


class Activity(BaseModel):
    id: int
    source: str
    quantity: float
    unit: str
    occurred_at: datetime
    created_at: datetime


class ActivityList(BaseModel):
    items: list[Activity]
    count: int
    limit: int
