"""What the OpenAPI document promises of an answer, checked on real answers.

Shared by the contract test (tests/api/test_openapi.py) and the fuzzer: an
answer must carry a status the document lists for its operation, a body of
the listed media type that fits the listed schema, and the listed headers.
"""

from __future__ import annotations

from typing import Any

import jsonschema
import orjson


class Contract:
    """The responses of every operation of one OpenAPI document."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self._validators: dict[tuple[str, ...], jsonschema.Draft202012Validator] = {}

    def operations(self) -> list[tuple[str, str]]:
        """Every (path template, method) the document describes."""
        return [
            (path, method)
            for path, item in self.document["paths"].items()
            for method in item
        ]

    def operation(self, path: str, method: str) -> dict[str, Any]:
        found: dict[str, Any] = self.document["paths"][path][method]
        return found

    def statuses(self, path: str, method: str) -> set[int]:
        """The statuses the document lists for an operation."""
        return {int(code) for code in self.operation(path, method)["responses"]}

    def check(self, path: str, method: str, result: Any) -> None:
        """Fail unless ``result`` is an answer the document lists for the route."""
        responses = self.operation(path, method)["responses"]
        status = str(result.status_code)
        where = f"{method.upper()} {path} -> {status}"
        assert status in responses, f"{where} is undocumented: {result.text[:300]}"
        response = responses[status]
        for header in response.get("headers", {}):
            assert header in result.headers, f"{where} lacks {header}"
        content = response.get("content")
        if content is None:
            assert not result.content, f"{where} has a body it should not have"
            return
        media = _media_type(result.headers.get("Content-Type", ""))
        documented = {_media_type(name): name for name in content}
        assert media in documented, f"{where} answered {media!r}, not {documented}"
        name = documented[media]
        body = (
            orjson.loads(result.content) if media == "application/json" else result.text
        )
        self._validator(path, method, status, name).validate(body)

    def _validator(
        self, path: str, method: str, status: str, media: str
    ) -> jsonschema.Draft202012Validator:
        key = (path, method, status, media)
        if key not in self._validators:
            content = self.operation(path, method)["responses"][status]["content"]
            # The document's components sit beside the schema, so that its
            # "#/components/schemas/..." references resolve against it.
            schema = {**self.document, **content[media]["schema"]}
            self._validators[key] = jsonschema.Draft202012Validator(
                schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
            )
        return self._validators[key]


def _media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()
