"""Request and response bodies of the /v1 API."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field

# printable and not blank: PostgreSQL text cannot hold NUL, and control characters are always a mistake
PRINTABLE_NOT_BLANK = r"^[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f][^\x00-\x1f\x7f]*$"
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(3000, 1, 1, tzinfo=UTC)


def _iso_text(value: object) -> object:
    # pydantic would read a bare number as a Unix time; a record's time must be written out in full
    if not isinstance(value, str | datetime):
        raise ValueError("must be an ISO 8601 date-time string with a time zone")
    return value


def _in_range_utc(value: datetime) -> datetime:
    # stored and returned in UTC: year 1 at +14:00 would become year 0, which no client can read back
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        raise ValueError("must be between 1900 and 2999") from None
    if not EARLIEST <= utc < LATEST:
        raise ValueError("must be between 1900 and 2999")
    return utc


def _not_text(value: object) -> object:
    # pydantic would parse "12" or true as a number; an API client sending them has a bug
    if isinstance(value, str | bool):
        raise ValueError("must be a JSON number")
    return value


Label = Annotated[str, Field(min_length=1, max_length=200, pattern=PRINTABLE_NOT_BLANK)]
Unit = Annotated[str, Field(min_length=1, max_length=32, pattern=PRINTABLE_NOT_BLANK)]


class ActivityIn(BaseModel):
    """A carbon-activity record: how much of what, when, from which source."""

    model_config = ConfigDict(extra="forbid")

    source: Label = Field(description="Where the activity comes from, e.g. 'diesel-generator-2'")
    quantity: Annotated[float, BeforeValidator(_not_text)] = Field(
        ge=0, le=1e12, allow_inf_nan=False, description="Amount in `unit`"
    )
    unit: Unit = Field(description="Unit of `quantity`, e.g. 'kWh' or 'L'")
    occurred_at: Annotated[AwareDatetime, BeforeValidator(_iso_text), AfterValidator(_in_range_utc)] = Field(
        description="When it happened, with a time zone; between 1900 and 2999 (UTC)"
    )


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
