"""Validation of a Measurement Protocol body against GA4's documented limits.

:func:`check` never raises for a well-formed JSON object: like GA4 it keeps
what is valid, drops the rest and says why, as validation messages with GA4's
codes (what ``/debug/mp/collect`` answers). An invalid event is dropped alone;
an invalid request-level identity (client id, app instance id, user id,
timestamp) or too many events drop the whole request; an invalid user
property, consent, location or device field is dropped alone.

A param value is a string, number or boolean of at most 100 characters,
except GA4's page params ("Event collection limits"): ``page_title`` up to
300, ``page_referrer`` 420 and ``page_location`` 1000, and those three must be
strings. ``page_location`` and ``page_referrer`` leave the params to travel as
the event's path and referrer; ``page_title`` stays a param.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ga4clone.events import MAX_FUTURE_MS, MAX_PAST_MS, Consent, Device, UserLocation
from ga4clone.mp import names

MAX_BODY_BYTES = 130_000 - 1  # GA4: "less than 130kB".
MAX_EVENTS = 25
MAX_PARAMS = 25
MAX_USER_PROPERTIES = 25
MAX_NAME_CHARS = 40
MAX_USER_PROPERTY_NAME_CHARS = 24
MAX_PARAM_VALUE_CHARS = 100
MAX_USER_PROPERTY_VALUE_CHARS = 36
MAX_ID_CHARS = 256
MAX_FIELD_CHARS = 100
# The worker decodes queued params with events.MAX_QUEUED_PARAM_STRING_CHARS,
# which must stay at least the longest of these that stays a param.
PAGE_PARAM_CHARS = {"page_title": 300, "page_referrer": 420, "page_location": 1000}
# The page params that travel as the event's path and referrer.
_LIFTED_PARAMS = ("page_location", "page_referrer")
_INT64 = 2**63

VALUE_INVALID = "VALUE_INVALID"
VALUE_REQUIRED = "VALUE_REQUIRED"
NAME_INVALID = "NAME_INVALID"
NAME_RESERVED = "NAME_RESERVED"
VALUE_OUT_OF_BOUNDS = "VALUE_OUT_OF_BOUNDS"
EXCEEDED_MAX_ENTITIES = "EXCEEDED_MAX_ENTITIES"
NAME_DUPLICATED = "NAME_DUPLICATED"

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_APP_INSTANCE_ID = re.compile(r"[0-9a-fA-F]{32}")
_CONSENT_VALUES = frozenset({"GRANTED", "DENIED"})
_LOCATION_PATTERNS = {
    "country_id": re.compile(r"[A-Z]{2}"),
    "region_id": re.compile(r"[A-Z]{2}-[A-Z0-9]{1,3}"),
    "subcontinent_id": re.compile(r"[0-9]{3}"),
    "continent_id": re.compile(r"[0-9]{3}"),
    "city": re.compile(r".{1,100}"),
}
_DEVICE_FIELDS = tuple(Device.model_fields)

Scalar = str | int | float | bool


class BodyInvalid(ValueError):
    """Raised when a body is not a JSON object at all."""


class _Object(dict[str, Any]):
    """A decoded JSON object that remembers the keys it saw twice."""

    duplicates: list[str]


def _pairs(pairs: list[tuple[str, Any]]) -> _Object:
    for key, value in pairs:
        _require_unicode(key)
        if isinstance(value, str):
            _require_unicode(value)
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, str):
                    _require_unicode(item)
    obj = _Object(pairs)
    obj.duplicates = [k for k, n in Counter(k for k, _ in pairs).items() if n > 1]
    return obj


def _require_unicode(text: str) -> None:
    """Refuse a string holding a lone surrogate (an escape like ``\\ud800``).

    JSON's grammar admits one, but it is no Unicode text (RFC 8259, section
    8.2): it could be neither queued as UTF-8 nor stored.
    """
    if not text.isascii():
        try:
            text.encode()
        except UnicodeEncodeError as exc:
            raise ValueError("a string holds a lone surrogate") from exc


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse(body: bytes) -> dict[str, Any]:
    """Decode a body, keeping duplicate names visible (GA4's NAME_DUPLICATED)."""
    try:
        value = json.loads(body, object_pairs_hook=_pairs, parse_constant=_no_constants)
    except (ValueError, RecursionError) as exc:
        raise BodyInvalid(f"the body is not JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise BodyInvalid("the body is not a JSON object")
    return value


@dataclass(frozen=True)
class ValidationMessage:
    """One problem, as GA4's validation server reports it."""

    field_path: str
    description: str
    validation_code: str

    def to_json(self) -> dict[str, str]:
        return {
            "fieldPath": self.field_path,
            "description": self.description,
            "validationCode": self.validation_code,
        }


class _Invalid(Exception):
    def __init__(self, path: str, description: str, code: str) -> None:
        super().__init__(description)
        self.message = ValidationMessage(path, description, code)


@dataclass
class MpEvent:
    """A valid event: its name, params and the page facts lifted out of them."""

    name: str
    params: dict[str, Scalar]
    timestamp_micros: int
    page_location: str = ""
    page_referrer: str = ""


@dataclass
class Checked:
    """What survives validation, and what did not."""

    client_id: str = ""
    user_id: str = ""
    timestamp_micros: int = 0
    user_properties: dict[str, Scalar] = field(default_factory=dict)
    consent: Consent | None = None
    non_personalized_ads: bool | None = None
    user_location: UserLocation | None = None
    device: Device | None = None
    events: list[MpEvent] = field(default_factory=list)
    messages: list[ValidationMessage] = field(default_factory=list)
    dropped: Counter[str] = field(default_factory=Counter)


def check(body: dict[str, Any], *, app: bool, now_us: int) -> Checked:
    """Validate a decoded body; ``app`` for Firebase (app_instance_id) streams."""
    checked = Checked()
    raw_events = body.get("events")
    try:
        events = _event_list(raw_events)
        checked.client_id = _identity(body, app=app)
        checked.user_id = _optional_text(body, "user_id", MAX_ID_CHARS)
        checked.timestamp_micros = _timestamp(body.get("timestamp_micros"), "", now_us)
    except _Invalid as exc:
        checked.messages.append(exc.message)
        dropped = len(raw_events) if isinstance(raw_events, list) else 0
        checked.dropped[exc.message.validation_code] += dropped
        return checked
    checked.timestamp_micros = checked.timestamp_micros or now_us
    _request_fields(body, checked)
    for index, raw in enumerate(events):
        try:
            checked.events.append(_event(raw, f"events[{index}]", checked, now_us))
        except _Invalid as exc:
            checked.messages.append(exc.message)
            checked.dropped[exc.message.validation_code] += 1
    return checked


def _event_list(value: Any) -> list[Any]:
    if value is None or value == []:
        raise _Invalid("events", "at least one event is required", VALUE_REQUIRED)
    if not isinstance(value, list):
        raise _Invalid("events", "events must be an array", VALUE_INVALID)
    if len(value) > MAX_EVENTS:
        raise _Invalid(
            "events",
            f"a request may hold at most {MAX_EVENTS} events",
            EXCEEDED_MAX_ENTITIES,
        )
    return value


def _identity(body: dict[str, Any], *, app: bool) -> str:
    name = "app_instance_id" if app else "client_id"
    value = body.get(name)
    if value is None or value == "":
        raise _Invalid(name, f"{name} is required", VALUE_REQUIRED)
    if not isinstance(value, str) or len(value) > MAX_ID_CHARS:
        raise _Invalid(name, f"{name} must be a string", VALUE_INVALID)
    if app and not _APP_INSTANCE_ID.fullmatch(value):
        raise _Invalid(name, f"{name} must be 32 hexadecimal digits", VALUE_INVALID)
    return value


def _optional_text(body: dict[str, Any], name: str, max_chars: int) -> str:
    value = body.get(name)
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > max_chars:
        raise _Invalid(
            name, f"{name} must be a string of at most {max_chars}", VALUE_INVALID
        )
    return value


def _timestamp(value: Any, path: str, now_us: int) -> int:
    """A timestamp in microseconds within GA4's window; 0 when absent."""
    name = f"{path}.timestamp_micros" if path else "timestamp_micros"
    if value is None:
        return 0
    if type(value) is not int or value <= 0:
        raise _Invalid(
            name, "timestamp_micros must be a positive integer", VALUE_INVALID
        )
    if value < now_us - MAX_PAST_MS * 1000:
        raise _Invalid(name, "timestamp is more than 72 hours old", VALUE_OUT_OF_BOUNDS)
    if value > now_us + MAX_FUTURE_MS * 1000:
        raise _Invalid(name, "timestamp is in the future", VALUE_OUT_OF_BOUNDS)
    return value


def _request_fields(body: dict[str, Any], checked: Checked) -> None:
    """The optional request fields; an invalid one is dropped alone."""
    checked.user_properties = _user_properties(body.get("user_properties"), checked)
    for name, read in (
        ("consent", _consent),
        ("non_personalized_ads", _npa),
        ("user_location", _user_location),
        ("device", _device),
    ):
        if body.get(name) is None:
            continue
        try:
            setattr(checked, name, read(body[name]))
        except _Invalid as exc:
            checked.messages.append(exc.message)


def _name_problem(
    name: Any, max_chars: int, reserved: frozenset[str], prefixes: tuple[str, ...]
) -> tuple[str, str] | None:
    """(code, description) of what is wrong with a name; None if nothing."""
    if not isinstance(name, str) or not name:
        return NAME_INVALID, "a name must be a non-empty string"
    # GA4's validation server answers "_badEventName" with NAME_INVALID (a
    # name must start with a letter), though "_" is also a reserved prefix.
    if not name[0].isascii() or not name[0].isalpha():
        return NAME_INVALID, "a name must start with a letter"
    if name in reserved or name.startswith(prefixes):
        return NAME_RESERVED, f"{name!r} is reserved"
    if len(name) > max_chars:
        return NAME_INVALID, f"a name may have at most {max_chars} characters"
    if not _NAME.fullmatch(name):
        return NAME_INVALID, "a name must start with a letter, then letters, digits, _"
    return None


def _scalar(value: Any, path: str, max_chars: int) -> Scalar:
    kind = type(value)
    if kind is str:
        if len(value) > max_chars:
            raise _Invalid(
                path,
                f"a value may have at most {max_chars} characters",
                VALUE_OUT_OF_BOUNDS,
            )
        return str(value)
    if kind is bool:
        return bool(value)
    if kind is int:
        if not -_INT64 <= value < _INT64:
            raise _Invalid(path, "integer outside 64 bits", VALUE_OUT_OF_BOUNDS)
        return int(value)
    if kind is float and math.isfinite(value):
        return float(value)
    raise _Invalid(path, "a value must be a string, number or boolean", VALUE_INVALID)


def _duplicates(obj: Any, path: str) -> None:
    repeated = getattr(obj, "duplicates", None)
    if repeated:
        raise _Invalid(
            f"{path}.{repeated[0]}", f"{repeated[0]!r} appears twice", NAME_DUPLICATED
        )


def _event(raw: Any, path: str, checked: Checked, now_us: int) -> MpEvent:
    if not isinstance(raw, dict):
        raise _Invalid(path, "an event must be an object", VALUE_INVALID)
    name = raw.get("name")
    if name is None:
        raise _Invalid(f"{path}.name", "an event needs a name", VALUE_REQUIRED)
    problem = _name_problem(
        name, MAX_NAME_CHARS, names.RESERVED_EVENT_NAMES, names.EVENT_PREFIXES
    )
    if problem is not None:
        raise _Invalid(f"{path}.name", problem[1], problem[0])
    micros = _timestamp(raw.get("timestamp_micros"), path, now_us)
    event = MpEvent(name, {}, micros or checked.timestamp_micros)
    _params(raw.get("params"), f"{path}.params", event)
    return event


def _params(raw: Any, path: str, event: MpEvent) -> None:
    if raw is None:
        return
    if not isinstance(raw, dict):
        raise _Invalid(path, "params must be an object", VALUE_INVALID)
    _duplicates(raw, path)
    if len(raw) > MAX_PARAMS:
        raise _Invalid(
            path,
            f"an event may have at most {MAX_PARAMS} params",
            EXCEEDED_MAX_ENTITIES,
        )
    for key, value in raw.items():
        problem = _name_problem(
            key, MAX_NAME_CHARS, names.RESERVED_PARAM_NAMES, names.PARAM_PREFIXES
        )
        if problem is not None:
            raise _Invalid(f"{path}.{key}", problem[1], problem[0])
        if value is None:
            continue
        if isinstance(value, list) and key == "items":
            # TODO: an ecommerce items array is accepted unchecked (GA4 takes
            # at most 200, each with item_id or item_name) and is neither
            # queued nor stored, nor reported by /debug/mp/collect. GA4's
            # export keeps items in the event's repeated items record: an
            # items Nested column on events (a new migration), filled from
            # checked items carried in the message, would keep them.
            continue
        scalar = _param_value(key, value, f"{path}.{key}")
        if key in _LIFTED_PARAMS:
            setattr(event, key, scalar)
        else:
            event.params[key] = scalar


def _param_value(key: str, value: Any, path: str) -> Scalar:
    """A param's value within its limit; page params must be strings."""
    limit = PAGE_PARAM_CHARS.get(key)
    if limit is None:
        return _scalar(value, path, MAX_PARAM_VALUE_CHARS)
    if type(value) is not str:
        raise _Invalid(path, f"{key} must be a string", VALUE_INVALID)
    return _scalar(value, path, limit)


def _user_properties(raw: Any, checked: Checked) -> dict[str, Scalar]:
    path = "user_properties"
    if raw is None:
        return {}
    problem: _Invalid | None = None
    if not isinstance(raw, dict):
        problem = _Invalid(path, "user_properties must be an object", VALUE_INVALID)
    elif len(raw) > MAX_USER_PROPERTIES:
        problem = _Invalid(
            path,
            f"at most {MAX_USER_PROPERTIES} user properties",
            EXCEEDED_MAX_ENTITIES,
        )
    if problem is not None:
        checked.messages.append(problem.message)
        return {}
    repeated = set(getattr(raw, "duplicates", ()))
    properties = {}
    for name, holder in raw.items():
        try:
            if name in repeated:
                raise _Invalid(
                    f"{path}.{name}", f"{name!r} appears twice", NAME_DUPLICATED
                )
            value = _user_property(name, holder, f"{path}.{name}")
        except _Invalid as exc:
            checked.messages.append(exc.message)
            continue
        if value is not None:
            properties[name] = value
    return properties


def _user_property(name: str, holder: Any, path: str) -> Scalar | None:
    problem = _name_problem(
        name,
        MAX_USER_PROPERTY_NAME_CHARS,
        names.RESERVED_USER_PROPERTY_NAMES,
        names.USER_PROPERTY_PREFIXES,
    )
    if problem is not None:
        raise _Invalid(path, problem[1], problem[0])
    if not isinstance(holder, dict):
        raise _Invalid(path, 'a user property must be {"value": ...}', VALUE_INVALID)
    value = holder.get("value")
    if value is None:
        # GA4 treats a null value as the property not being set.
        return None
    return _scalar(value, f"{path}.value", MAX_USER_PROPERTY_VALUE_CHARS)


def _consent(raw: Any) -> Consent:
    if not isinstance(raw, dict):
        raise _Invalid("consent", "consent must be an object", VALUE_INVALID)
    for name in ("ad_user_data", "ad_personalization"):
        value = raw.get(name)
        if value is not None and (
            not isinstance(value, str) or value not in _CONSENT_VALUES
        ):
            raise _Invalid(
                f"consent.{name}", "consent must be GRANTED or DENIED", VALUE_INVALID
            )
    return Consent(
        ad_user_data=raw.get("ad_user_data"),
        ad_personalization=raw.get("ad_personalization"),
    )


def _npa(raw: Any) -> bool:
    if type(raw) is not bool:
        raise _Invalid(
            "non_personalized_ads",
            "non_personalized_ads must be a boolean",
            VALUE_INVALID,
        )
    return raw


def _user_location(raw: Any) -> UserLocation:
    if not isinstance(raw, dict):
        raise _Invalid(
            "user_location", "user_location must be an object", VALUE_INVALID
        )
    for name, pattern in _LOCATION_PATTERNS.items():
        value = raw.get(name)
        if value is not None and not (
            isinstance(value, str) and pattern.fullmatch(value)
        ):
            raise _Invalid(
                f"user_location.{name}", f"{name} is malformed", VALUE_INVALID
            )
    return UserLocation(**{k: raw.get(k) for k in _LOCATION_PATTERNS})


def _device(raw: Any) -> Device:
    if not isinstance(raw, dict):
        raise _Invalid("device", "device must be an object", VALUE_INVALID)
    for name in _DEVICE_FIELDS:
        value = raw.get(name)
        if value is not None and not (
            isinstance(value, str) and len(value) <= MAX_FIELD_CHARS
        ):
            raise _Invalid(
                f"device.{name}", f"{name} must be a short string", VALUE_INVALID
            )
    return Device(**{k: raw.get(k) for k in _DEVICE_FIELDS})
