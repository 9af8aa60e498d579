"""The OpenAPI 3.1 document of the whole API, built from the pydantic models.

Request schemas come from the models that validate them (:class:`Event`, and
the reports' :class:`RunReportRequest` and :class:`RunRealtimeReportRequest`)
through pydantic's JSON schema, so the document cannot drift from validation.
The Measurement Protocol body is checked by hand-written code, so its schema
is written here, from that code's limits. A limit that is a setting (the
batch size) is filled in from :class:`Settings`. Every status a route
can answer is listed with the schema of its body; tests/api/test_openapi.py
and tests/fuzz hold real answers against it.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import TypeAdapter
from pydantic.json_schema import models_json_schema

from ga4clone import __version__
from ga4clone.events import Device, Event
from ga4clone.mp import validation as mp
from ga4clone.reports.catalog import DATE_RANGE, DIMENSIONS, METRICS, MetricType
from ga4clone.reports.request import RunRealtimeReportRequest, RunReportRequest
from ga4clone.settings import Settings

_REF = "#/components/schemas/{model}"
_JSON = "application/json"
_WRITE_ROUTES = {
    "/events": ("Event", "Send one event."),
    "/collect": ("Event", "Send one event (alias of /events, for sendBeacon)."),
    "/events/batch": ("EventBatch", "Send a batch of events."),
    "/collect/batch": ("EventBatch", "Send a batch of events (alias)."),
}
_ERRORS = {
    "400": "The body is not valid JSON, nests too deep, or holds invalid events.",
    "401": "The API key is missing, unknown, revoked, or its project is disabled.",
    "403": "An event belongs to another project than the key, or the Origin "
    "is not one the project allows.",
    "413": "The body, or its decompressed form, is larger than MAX_BODY_BYTES.",
    "415": "Content-Type is not JSON, or Content-Encoding is not gzip/identity.",
    "429": "The project's rate limit is exceeded; see Retry-After.",
    "503": "The queue or the key store is unavailable; see Retry-After.",
}
_MP_ERRORS = {
    "400": "The body is not a JSON object, is not valid gzip, or names a "
    "stream by the other kind's parameter.",
    "401": "measurement_id (or firebase_app_id) or api_secret is missing, or "
    "the api_secret is not the stream's.",
    "413": "The body, or its decompressed form, is 130 kB or more.",
    "415": "Content-Encoding is not gzip or identity.",
    "429": "The project's rate limit is exceeded; see Retry-After.",
    "503": "The queue or the stream store is unavailable; see Retry-After.",
}
# GA4's google.rpc.Code name of each HTTP status the reports answer.
_REPORT_ERRORS = {
    "400": ("INVALID_ARGUMENT", "A field is unknown, malformed or out of range."),
    "401": ("UNAUTHENTICATED", "No key, or a key nobody knows."),
    "403": ("PERMISSION_DENIED", "The key is another project's, or a write key."),
    "503": ("UNAVAILABLE", "ClickHouse or PostgreSQL cannot answer; see Retry-After."),
}
_RETRY_AFTER = {
    "description": "Seconds to wait before retrying.",
    "schema": {"type": "string", "pattern": "^[0-9]+$"},
}
_INGEST_SECURITY: list[dict[str, list[str]]] = [{"writeKey": []}, {"writeKeyQuery": []}]
_READ_SECURITY: list[dict[str, list[str]]] = [{"secretBearer": []}, {"secretKey": []}]
_SECURITY_SCHEMES = {
    "writeKey": {
        "type": "apiKey",
        "in": "header",
        "name": "X-Api-Key",
        "description": "A project's write key (public, for SDKs).",
    },
    "writeKeyQuery": {
        "type": "apiKey",
        "in": "query",
        "name": "api_key",
        "description": "A project's write key, for sendBeacon, which sets no headers.",
    },
    "secretKey": {
        "type": "apiKey",
        "in": "header",
        "name": "X-Api-Key",
        "description": "A project's secret key, which may read its reports.",
    },
    "secretBearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "A project's secret key, which may read its reports.",
    },
    "apiSecret": {
        "type": "apiKey",
        "in": "query",
        "name": "api_secret",
        "description": "A data stream's Measurement Protocol secret.",
    },
}
_CONTENT_ENCODING = {
    "name": "Content-Encoding",
    "in": "header",
    "required": False,
    "schema": {"type": "string", "enum": ["gzip", "identity"]},
}


def openapi_document(settings: Settings) -> dict[str, Any]:
    """The whole document, as a JSON-ready dict."""
    paths: dict[str, Any] = {
        path: _write_path(model, summary)
        for path, (model, summary) in _WRITE_ROUTES.items()
    }
    paths.update(_mp_paths())
    paths.update(_report_paths())
    paths.update(_operations_paths())
    return {
        "openapi": "3.1.0",
        "info": {"title": "ga4clone API", "version": __version__},
        "paths": paths,
        "components": {
            "schemas": _schemas(settings),
            "securitySchemes": _SECURITY_SCHEMES,
        },
    }


# --- schemas ---------------------------------------------------------------------


def _schemas(settings: Settings) -> dict[str, Any]:
    schemas = {
        **_ingest_schemas(settings),
        **_mp_schemas(),
        **_report_request_schemas(),
        **_report_response_schemas(),
    }
    schemas["Status"] = _object({"status": {"type": "string"}})
    schemas["OpenApiDocument"] = _object(
        {
            "openapi": {"type": "string", "pattern": "^3\\.1\\."},
            "info": {"type": "object"},
            "paths": {"type": "object"},
        },
        additional=True,
    )
    return schemas


def _ingest_schemas(settings: Settings) -> dict[str, Any]:
    event = TypeAdapter(Event).json_schema(by_alias=True, ref_template=_REF)
    schemas: dict[str, Any] = event.pop("$defs", {})
    schemas["Event"] = event
    schemas["EventBatch"] = {
        "type": "array",
        "items": _ref("Event"),
        "minItems": 1,
        "maxItems": settings.max_batch_events,
    }
    schemas["Accepted"] = _object(
        {
            "accepted": {"type": "integer", "minimum": 1},
            "eventIds": {
                "type": "array",
                "items": {"type": "string", "format": "uuid"},
            },
        }
    )
    problem = _object({"path": {"type": "string"}, "message": {"type": "string"}})
    schemas["Error"] = _object(
        {"error": {"type": "string"}, "errors": {"type": "array", "items": problem}},
        required=["error"],
    )
    return schemas


def _mp_schemas() -> dict[str, Any]:
    """The Measurement Protocol body as mp/validation.py checks it."""
    message = _object(
        {
            "fieldPath": {"type": "string"},
            "description": {"type": "string"},
            "validationCode": {"type": "string"},
        }
    )
    return {
        "MpRequest": _mp_request(),
        "MpEvent": _object(
            {
                "name": {"type": "string", "pattern": _mp_name(mp.MAX_NAME_CHARS)},
                "timestamp_micros": _micros(),
                "params": _mp_params(),
            },
            required=["name"],
            additional=True,
        ),
        "MpValidation": _object(
            {"validationMessages": {"type": "array", "items": message}}
        ),
    }


def _mp_request() -> dict[str, Any]:
    return _object(
        {
            "client_id": _text(mp.MAX_ID_CHARS, "A web stream's client id."),
            "app_instance_id": {
                "type": "string",
                "pattern": "^[0-9a-fA-F]{32}$",
                "description": "A Firebase app stream's app instance id.",
            },
            "user_id": {"type": "string", "maxLength": mp.MAX_ID_CHARS},
            "timestamp_micros": _micros(),
            "user_properties": _mp_user_properties(),
            "consent": _optional_fields(
                ("ad_user_data", "ad_personalization"), {"enum": ["GRANTED", "DENIED"]}
            ),
            "non_personalized_ads": {"type": "boolean"},
            "user_location": _mp_user_location(),
            "device": _optional_fields(
                tuple(Device.model_fields),
                {"type": "string", "maxLength": mp.MAX_FIELD_CHARS},
            ),
            "events": {
                "type": "array",
                "items": _ref("MpEvent"),
                "minItems": 1,
                "maxItems": mp.MAX_EVENTS,
            },
        },
        required=["events"],
        additional=True,
        description="A web stream sends client_id; an app stream "
        "app_instance_id. Invalid events are dropped, not refused.",
    )


def _mp_name(max_chars: int) -> str:
    return f"^[A-Za-z][A-Za-z0-9_]{{0,{max_chars - 1}}}$"


def _optional_fields(names: tuple[str, ...], schema: dict[str, Any]) -> dict[str, Any]:
    """An object whose fields ``names`` all take ``schema`` and may be left out."""
    return _object({name: dict(schema) for name in names}, required=[], additional=True)


def _mp_params() -> dict[str, Any]:
    pages = {
        name: {"type": "string", "maxLength": chars}
        for name, chars in mp.PAGE_PARAM_CHARS.items()
    }
    return {
        "type": "object",
        "maxProperties": mp.MAX_PARAMS,
        "propertyNames": {"pattern": _mp_name(mp.MAX_NAME_CHARS)},
        "properties": {**pages, "items": {"type": "array"}},
        "additionalProperties": {
            "anyOf": [
                {"type": "string", "maxLength": mp.MAX_PARAM_VALUE_CHARS},
                {"type": ["number", "boolean", "null"]},
            ]
        },
    }


def _mp_user_properties() -> dict[str, Any]:
    value = {
        "anyOf": [
            {"type": "string", "maxLength": mp.MAX_USER_PROPERTY_VALUE_CHARS},
            {"type": ["number", "boolean", "null"]},
        ]
    }
    return {
        "type": "object",
        "maxProperties": mp.MAX_USER_PROPERTIES,
        "propertyNames": {"pattern": _mp_name(mp.MAX_USER_PROPERTY_NAME_CHARS)},
        "additionalProperties": _object({"value": value}, required=[], additional=True),
    }


def _mp_user_location() -> dict[str, Any]:
    patterns = {
        "city": "^.{1,100}$",
        "region_id": "^[A-Z]{2}-[A-Z0-9]{1,3}$",
        "country_id": "^[A-Z]{2}$",
        "subcontinent_id": "^[0-9]{3}$",
        "continent_id": "^[0-9]{3}$",
    }
    return _object(
        {name: {"type": "string", "pattern": p} for name, p in patterns.items()},
        required=[],
        additional=True,
    )


def _report_request_schemas() -> dict[str, Any]:
    _, top = models_json_schema(
        [(RunReportRequest, "validation"), (RunRealtimeReportRequest, "validation")],
        by_alias=True,
        ref_template=_REF,
    )
    schemas: dict[str, Any] = top["$defs"]
    names = [*DIMENSIONS, DATE_RANGE]
    schemas["DimensionRef"]["properties"]["name"]["examples"] = names
    schemas["MetricRef"]["properties"]["name"]["examples"] = list(METRICS)
    return schemas


def _report_response_schemas() -> dict[str, Any]:
    value = _object({"value": {"type": "string"}})
    row = _object(
        {
            "dimensionValues": {"type": "array", "items": value},
            "metricValues": {"type": "array", "items": value},
        }
    )
    metric_type = {"enum": [t.value for t in MetricType]}
    return {
        "ReportRow": row,
        "ReportRows": {"type": "array", "items": _ref("ReportRow")},
        "RunReportResponse": _report_response("analyticsData#runReport", metric_type),
        "RunRealtimeReportResponse": _report_response(
            "analyticsData#runRealtimeReport", metric_type
        ),
        "Metadata": _metadata(metric_type),
        "DailyMetrics": _daily_metrics(),
        "ReportError": _object(
            {
                "error": _object(
                    {
                        "code": {"type": "integer"},
                        "message": {"type": "string"},
                        "status": {"type": "string"},
                    }
                )
            }
        ),
    }


def _report_response(kind: str, metric_type: dict[str, Any]) -> dict[str, Any]:
    name = _object({"name": {"type": "string"}})
    rows = _ref("ReportRows")
    return _object(
        {
            "dimensionHeaders": {"type": "array", "items": name},
            "metricHeaders": {
                "type": "array",
                "items": _object({"name": {"type": "string"}, "type": metric_type}),
            },
            "rows": rows,
            "rowCount": {"type": "integer", "minimum": 0},
            "totals": rows,
            "minimums": rows,
            "maximums": rows,
            "metadata": _object(
                {"currencyCode": {"type": "string"}, "timeZone": {"type": "string"}}
            ),
            "kind": {"const": kind},
        },
        required=["dimensionHeaders", "metricHeaders", "rows", "rowCount", "kind"],
    )


def _metadata(metric_type: dict[str, Any]) -> dict[str, Any]:
    common = {
        "apiName": {"type": "string"},
        "uiName": {"type": "string"},
        "description": {"type": "string"},
        "category": {"type": "string"},
    }
    return _object(
        {
            "name": {"type": "string", "pattern": "^properties/[^/]+/metadata$"},
            "dimensions": {"type": "array", "items": _object(common)},
            "metrics": {
                "type": "array",
                "items": _object({**common, "type": metric_type}),
            },
        }
    )


def _daily_metrics() -> dict[str, Any]:
    date = {"type": "string", "format": "date"}
    day = _object(
        {
            "date": date,
            "metrics": {
                "type": "object",
                "additionalProperties": {"type": "integer"},
            },
        }
    )
    return _object(
        {
            "projectId": {"type": "string", "format": "uuid"},
            "start": date,
            "end": date,
            "days": {"type": "array", "items": day},
        }
    )


# --- paths -----------------------------------------------------------------------


def _write_path(model: str, summary: str) -> dict[str, Any]:
    responses = {
        "202": _json_response("Confirmed by the queue.", _ref("Accepted")),
        **{code: _error_response(text, code) for code, text in _ERRORS.items()},
    }
    return {
        "post": {
            "summary": summary,
            "security": _INGEST_SECURITY,
            "parameters": [_CONTENT_ENCODING],
            "requestBody": _body(_ref(model), required=True),
            "responses": responses,
        },
        "options": {
            "summary": "CORS preflight, answered from the projects' allowed origins.",
            "parameters": [_header("Origin"), _header("Access-Control-Request-Method")],
            "responses": {
                "204": {"description": "Preflight answer."},
                "503": _error_response("Origins cannot be checked.", "503"),
            },
        },
    }


def _mp_paths() -> dict[str, Any]:
    stream = [
        _query("measurement_id", "A web stream's measurement id."),
        _query("firebase_app_id", "A Firebase app stream's app id."),
        _CONTENT_ENCODING,
    ]
    collect = {
        "204": {"description": "Queued; invalid events were dropped."},
        **{code: _error_response(text, code) for code, text in _MP_ERRORS.items()},
    }
    debug = {
        "200": _json_response(
            "What is wrong with the body; nothing is stored.", _ref("MpValidation")
        )
    }
    return {
        "/mp/collect": {
            "post": {
                "summary": "GA4 Measurement Protocol: send events of a stream.",
                "security": [{"apiSecret": []}],
                "parameters": stream,
                "requestBody": _body(_ref("MpRequest"), required=True),
                "responses": collect,
            }
        },
        "/debug/mp/collect": {
            "post": {
                "summary": "GA4 Measurement Protocol validation server.",
                "parameters": stream,
                "requestBody": _body(_ref("MpRequest"), required=True),
                "responses": debug,
            }
        },
    }


def _report_paths() -> dict[str, Any]:
    prop = _path_parameter("property_id")
    prefix = "/v1beta/properties/{property_id}"
    return {
        f"{prefix}:runReport": {
            "post": _report_operation(
                "A report over date ranges.",
                [prop],
                "RunReportResponse",
                _body(_ref("RunReportRequest"), required=False, plain=False),
            )
        },
        f"{prefix}:runRealtimeReport": {
            "post": _report_operation(
                "A report over the last 30 minutes.",
                [prop],
                "RunRealtimeReportResponse",
                _body(_ref("RunRealtimeReportRequest"), required=False, plain=False),
            )
        },
        f"{prefix}/metadata": {
            "get": _report_operation(
                "The dimensions and metrics a report may name.", [prop], "Metadata"
            )
        },
        "/v1/projects/{project_id}/metrics/daily": {
            "get": _report_operation(
                "The daily aggregates of a project, one entry per day.",
                [
                    _path_parameter("project_id"),
                    _date_query("start"),
                    _date_query("end"),
                ],
                "DailyMetrics",
            )
        },
    }


def _report_operation(
    summary: str,
    parameters: list[dict[str, Any]],
    answer: str,
    body: dict[str, Any] | None = None,
) -> dict[str, Any]:
    responses = {"200": _json_response("The answer.", _ref(answer))}
    for code, (status, text) in _REPORT_ERRORS.items():
        responses[code] = _report_error(code, status, text)
    operation = {
        "summary": summary,
        "security": _READ_SECURITY,
        "parameters": parameters,
        "responses": responses,
    }
    if body is not None:
        operation["requestBody"] = body
    return operation


def _operations_paths() -> dict[str, Any]:
    return {
        "/health": _status_path("The process is alive.", ok_only=True),
        "/ready": _status_path("The broker connection is up.", ok_only=False),
        "/openapi.json": {
            "get": {
                "summary": "This document.",
                "responses": {
                    "200": _json_response(
                        "OpenAPI 3.1 document", _ref("OpenApiDocument")
                    )
                },
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics of this process.",
                "responses": {
                    "200": {
                        "description": "The default registry, in the text format.",
                        "content": {
                            CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}
                        },
                    }
                },
            }
        },
    }


def _status_path(summary: str, *, ok_only: bool) -> dict[str, Any]:
    responses = {"200": _json_response("Up.", _ref("Status"))}
    if not ok_only:
        responses["503"] = _json_response("Not ready.", _ref("Status"))
    return {"get": {"summary": summary, "responses": responses}}


# --- building blocks -------------------------------------------------------------


def _error_response(description: str, code: str) -> dict[str, Any]:
    response = _json_response(description, _ref("Error"))
    if code in ("429", "503"):
        response["headers"] = {"Retry-After": _RETRY_AFTER}
    return response


def _report_error(code: str, status: str, description: str) -> dict[str, Any]:
    """GA4's error body, its code and status fixed to this answer's."""
    exact = _object(
        {
            "error": {
                "type": "object",
                "properties": {
                    "code": {"const": int(code)},
                    "status": {"const": status},
                },
            }
        }
    )
    response = _json_response(description, {"allOf": [_ref("ReportError"), exact]})
    if code == "503":
        response["headers"] = {"Retry-After": _RETRY_AFTER}
    return response


def _json_response(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {_JSON: {"schema": schema}}}


def _body(
    schema: dict[str, Any], *, required: bool, plain: bool = True
) -> dict[str, Any]:
    """A JSON request body; ``plain`` also lists text/plain, as sendBeacon sends."""
    types = (_JSON, "text/plain") if plain else (_JSON,)
    return {
        "required": required,
        "content": {media: {"schema": schema} for media in types},
    }


def _object(
    properties: dict[str, Any],
    *,
    required: list[str] | None = None,
    additional: bool = False,
    description: str | None = None,
) -> dict[str, Any]:
    """An object schema; every property is required unless ``required`` says."""
    schema: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "required": list(properties) if required is None else required,
    }
    if not additional:
        schema["additionalProperties"] = False
    if description is not None:
        schema["description"] = description
    return schema


def _text(max_chars: int, description: str) -> dict[str, Any]:
    return {
        "type": "string",
        "minLength": 1,
        "maxLength": max_chars,
        "description": description,
    }


def _micros() -> dict[str, Any]:
    return {
        "type": "integer",
        "minimum": 1,
        "description": "Unix time in microseconds, at most 72 hours old.",
    }


def _query(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": {"type": "string"},
    }


def _date_query(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": True,
        "description": "YYYY-MM-DD, today, yesterday or NdaysAgo; at most "
        "366 days from start to end.",
        "schema": {"type": "string"},
    }


def _header(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "header",
        "required": False,
        "schema": {"type": "string"},
    }


def _path_parameter(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": "The project's id (a UUID).",
        "schema": {"type": "string", "format": "uuid"},
    }


def _ref(model: str) -> dict[str, str]:
    return {"$ref": _REF.format(model=model)}
