"""The OpenAPI 3.1 document of the ingest API, built from the pydantic models.

Request schemas come from :class:`ga4clone.events.Event` through
``TypeAdapter.json_schema``, so the document cannot drift from validation;
limits that are settings (batch size) are filled in from :class:`Settings`.
"""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter

from ga4clone import __version__
from ga4clone.events import Event
from ga4clone.settings import Settings

_REF = "#/components/schemas/{model}"
_WRITE_ROUTES = {
    "/events": ("Event", "Send one event."),
    "/collect": ("Event", "Send one event (alias of /events, for sendBeacon)."),
    "/events/batch": ("EventBatch", "Send a batch of events."),
    "/collect/batch": ("EventBatch", "Send a batch of events (alias)."),
}
_ERRORS = {
    "400": "The body is not valid JSON, nests too deep, or holds invalid events.",
    "401": "The API key is missing, unknown, revoked, or its project is disabled.",
    "403": "An event belongs to another project than the key.",
    "413": "The body, or its decompressed form, is larger than MAX_BODY_BYTES.",
    "415": "Content-Type is not JSON, or Content-Encoding is not gzip/identity.",
    "429": "The project's rate limit is exceeded; see Retry-After.",
    "503": "The queue or the key store is unavailable; see Retry-After.",
}
_RETRY_AFTER = {
    "description": "Seconds to wait before retrying.",
    "schema": {"type": "string", "pattern": "^[0-9]+$"},
}


def openapi_document(settings: Settings) -> dict[str, Any]:
    """The whole document, as a JSON-ready dict."""
    paths: dict[str, Any] = {
        path: _write_path(model, summary)
        for path, (model, summary) in _WRITE_ROUTES.items()
    }
    paths["/health"] = _status_path("The process is alive.", ok_only=True)
    paths["/ready"] = _status_path("The broker connection is up.", ok_only=False)
    paths["/openapi.json"] = {
        "get": {
            "summary": "This document.",
            "responses": {"200": _json_response("OpenAPI 3.1 document", {})},
        }
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "ga4clone ingest API", "version": __version__},
        "paths": paths,
        "components": {
            "schemas": _schemas(settings),
            "securitySchemes": {
                "headerKey": {"type": "apiKey", "in": "header", "name": "X-Api-Key"},
                "queryKey": {"type": "apiKey", "in": "query", "name": "api_key"},
            },
        },
    }


def _schemas(settings: Settings) -> dict[str, Any]:
    event = TypeAdapter(Event).json_schema(by_alias=True, ref_template=_REF)
    schemas: dict[str, Any] = event.pop("$defs", {})
    schemas["Event"] = event
    schemas["EventBatch"] = {
        "type": "array",
        "items": {"$ref": _REF.format(model="Event")},
        "minItems": 1,
        "maxItems": settings.max_batch_events,
    }
    schemas["Accepted"] = {
        "type": "object",
        "required": ["accepted", "eventIds"],
        "properties": {
            "accepted": {"type": "integer", "minimum": 1},
            "eventIds": {
                "type": "array",
                "items": {"type": "string", "format": "uuid"},
            },
        },
    }
    schemas["Error"] = {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {"type": "string"},
            "errors": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["path", "message"],
                    "properties": {
                        "path": {"type": "string"},
                        "message": {"type": "string"},
                    },
                },
            },
        },
    }
    schemas["Status"] = {
        "type": "object",
        "required": ["status"],
        "properties": {"status": {"type": "string"}},
    }
    return schemas


def _write_path(model: str, summary: str) -> dict[str, Any]:
    responses = {
        "202": _json_response("Confirmed by the queue.", _ref("Accepted")),
        **{code: _error_response(text, code) for code, text in _ERRORS.items()},
    }
    return {
        "post": {
            "summary": summary,
            "security": [{"headerKey": []}, {"queryKey": []}],
            "parameters": [
                {
                    "name": "Content-Encoding",
                    "in": "header",
                    "required": False,
                    "schema": {"type": "string", "enum": ["gzip", "identity"]},
                }
            ],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": _ref(model)},
                    "text/plain": {"schema": _ref(model)},
                },
            },
            "responses": responses,
        },
        "options": {
            "summary": "CORS preflight, answered from the projects' allowed origins.",
            "responses": {
                "204": {"description": "Preflight answer."},
                "503": _error_response("Origins cannot be checked.", "503"),
            },
        },
    }


def _status_path(summary: str, *, ok_only: bool) -> dict[str, Any]:
    responses = {"200": _json_response("Up.", _ref("Status"))}
    if not ok_only:
        responses["503"] = _json_response("Not ready.", _ref("Status"))
    return {"get": {"summary": summary, "responses": responses}}


def _error_response(description: str, code: str) -> dict[str, Any]:
    response = _json_response(description, _ref("Error"))
    if code in ("429", "503"):
        response["headers"] = {"Retry-After": _RETRY_AFTER}
    return response


def _json_response(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": schema}},
    }


def _ref(model: str) -> dict[str, str]:
    return {"$ref": _REF.format(model=model)}
