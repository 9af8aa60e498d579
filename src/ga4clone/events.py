"""The shapes of an event at the edges: the HTTP body and the queued message.

The API validates request bodies into :class:`Event`; it wraps the accepted
events, together with what the server knows about the request, into one
:class:`EventMessage` per request and publishes that. The worker decodes the
same :class:`EventMessage`, so both sides agree on one definition.

``/events`` and the Measurement Protocol (``/mp/collect``) share the envelope;
what only the Measurement Protocol carries (user id, user properties, consent,
the sender's own device and location facts, the data stream) is optional, so
messages queued by ``/events`` keep their JSON shape. So is the request's
Origin, which only ``/events`` carries: messages queued without it decode.
"""

from __future__ import annotations

import math
import uuid
from typing import Annotated, Any, cast

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    StrictInt,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
)

MAX_PARAMS = 25
MAX_PARAM_KEY_CHARS = 40
MAX_PARAM_STRING_CHARS = 100
# A queued string param may be as long as the longest any ingest path lets
# in: the Measurement Protocol takes GA4's page_title of up to 300 characters
# (mp/validation.py). The worker decodes with this cap, so nothing an ingest
# path accepted is dead-lettered for its length.
MAX_QUEUED_PARAM_STRING_CHARS = 300
MAX_PAST_MS = 72 * 3600 * 1000
MAX_FUTURE_MS = 10 * 60 * 1000
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1

ParamValue = str | int | float | bool


def _check_param_value(value: Any, info: ValidationInfo) -> ParamValue:
    """Accept a string of at most 100 characters, a finite number or a boolean.

    Decoding a queued message (no validation context) allows the longer
    strings of :data:`MAX_QUEUED_PARAM_STRING_CHARS`.
    """
    # Dispatch on the exact type: this runs for every parameter of every event,
    # in the API and again in the worker, and isinstance chains cost more.
    kind = type(value)
    if kind is str:
        limit = (
            MAX_PARAM_STRING_CHARS
            if info.context is not None
            else MAX_QUEUED_PARAM_STRING_CHARS
        )
        if len(value) > limit:
            raise ValueError(f"string must be at most {limit} characters")
        return cast(str, value)
    if kind is float:
        if not math.isfinite(value):
            raise ValueError("number must be finite")
        return cast(float, value)
    if kind is int:
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise ValueError("integer is outside the 64-bit range")
        return cast(int, value)
    if kind is bool:
        return cast(bool, value)
    raise ValueError("must be a string, a number or a boolean")


_ParamKey = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_PARAM_KEY_CHARS)
]
_Param = Annotated[ParamValue, PlainValidator(_check_param_value)]
_EventName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,39}$")]
_Id = Annotated[str, StringConstraints(min_length=1, max_length=256)]
_Url = Annotated[str, StringConstraints(max_length=2048)]
_Short = Annotated[str, StringConstraints(max_length=64)]


class Event(BaseModel):
    """One event as SDKs send it; unknown top-level fields are ignored."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    project_id: uuid.UUID = Field(alias="projectId")
    event_id: uuid.UUID | None = Field(None, alias="eventId")
    event_name: _EventName = Field(alias="eventName")
    timestamp: StrictInt = Field(ge=0, description="Unix time in milliseconds.")
    client_id: _Id = Field(alias="clientId")
    session_id: _Id = Field(alias="sessionId")
    path: _Url | None = None
    referrer: _Url | None = None
    sdk_name: _Short | None = Field(None, alias="sdkName")
    sdk_version: _Short | None = Field(None, alias="sdkVersion")
    params: dict[_ParamKey, _Param] = Field(default_factory=dict, max_length=MAX_PARAMS)
    timestamp_micros: StrictInt | None = Field(
        None,
        alias="timestampMicros",
        ge=0,
        description="The same instant in microseconds, when the sender gave it.",
    )

    @field_validator("timestamp")
    @classmethod
    def _within_window(cls, value: int, info: ValidationInfo) -> int:
        # The window only applies at ingestion; the worker decodes queued
        # events without a clock, since a message may wait in the queue.
        now_ms = (info.context or {}).get("now_ms")
        if now_ms is None:
            return value
        if value < now_ms - MAX_PAST_MS:
            raise ValueError("timestamp is more than 72 hours in the past")
        if value > now_ms + MAX_FUTURE_MS:
            raise ValueError("timestamp is more than 10 minutes in the future")
        return value

    @field_validator("timestamp_micros")
    @classmethod
    def _same_millisecond(cls, value: int | None, info: ValidationInfo) -> int | None:
        # timestampMicros only refines timestamp: held to the same millisecond
        # it passes the same window and fits the UInt64 column. Like the
        # window, checked at ingestion only (see _within_window).
        timestamp = info.data.get("timestamp")
        if value is None or timestamp is None or info.context is None:
            return value
        if value // 1000 != timestamp:
            raise ValueError("must be the same millisecond as timestamp")
        return value


class Consent(BaseModel):
    """The Measurement Protocol's consent: each GRANTED, DENIED or not given."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    ad_user_data: str | None = Field(None, alias="adUserData")
    ad_personalization: str | None = Field(None, alias="adPersonalization")


class UserLocation(BaseModel):
    """Where the sender says the user is (ISO 3166 and UN M49 codes)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    city: str | None = None
    region_id: str | None = Field(None, alias="regionId")
    country_id: str | None = Field(None, alias="countryId")
    subcontinent_id: str | None = Field(None, alias="subcontinentId")
    continent_id: str | None = Field(None, alias="continentId")


class Device(BaseModel):
    """What the sender says of the user's device; it wins over the User-Agent."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    category: str | None = None
    language: str | None = None
    screen_resolution: str | None = Field(None, alias="screenResolution")
    operating_system: str | None = Field(None, alias="operatingSystem")
    operating_system_version: str | None = Field(None, alias="operatingSystemVersion")
    model: str | None = None
    brand: str | None = None
    browser: str | None = None
    browser_version: str | None = Field(None, alias="browserVersion")


class EventMessage(BaseModel):
    """The AMQP message body: the events of one request and its server facts."""

    model_config = ConfigDict(populate_by_name=True)

    received_at_ms: int = Field(alias="receivedAt")
    user_agent: str = Field("", alias="userAgent")
    client_ip: str = Field("", alias="clientIp")
    # The request's Origin header: a bare ``path`` names no host, the Origin
    # does (browsers send it on every POST, sendBeacon's too). Absent from
    # messages queued before it existed and from Measurement Protocol ones.
    request_origin: str | None = Field(None, alias="requestOrigin")
    events: list[Event] = Field(min_length=1)
    ingest_endpoint: str = Field("events", alias="ingestEndpoint")
    stream_id: str = Field("", alias="streamId")
    platform: str = ""
    user_id: str = Field("", alias="userId")
    user_properties: dict[_ParamKey, _Param] = Field(
        default_factory=dict, alias="userProperties"
    )
    user_properties_micros: int | None = Field(None, alias="userPropertiesMicros")
    consent: Consent | None = None
    non_personalized_ads: bool | None = Field(None, alias="nonPersonalizedAds")
    user_location: UserLocation | None = Field(None, alias="userLocation")
    device: Device | None = None


def format_location(loc: tuple[int | str, ...]) -> str:
    """Render a pydantic error location as a JSON path like ``[3].params.price``."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part == "[key]":
            path += "[key]"
        else:
            path += f".{part}" if path else str(part)
    return path


def describe_errors(exc: ValidationError) -> list[dict[str, str]]:
    """Every problem of a failed validation, as ``{"path", "message"}`` pairs."""
    problems = []
    for error in exc.errors(include_url=False, include_input=False):
        message = error["msg"].removeprefix("Value error, ")
        problems.append({"path": format_location(error["loc"]), "message": message})
    return problems
