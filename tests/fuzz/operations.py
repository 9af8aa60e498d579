"""Hypothesis strategies of whole HTTP requests to the operations of a document.

For one operation, :class:`RequestStrategies` draws each part of a request
(path parameters, query, credential, headers, body) either as a request that
passes the guards would have it, or fuzzed: documented parameters with any
value or left out, strangers, a credential of any scheme the operation lists
with a right or wrong key, odd Content-Type and Content-Encoding, and a body
from the operation's request schema (valid-shaped, mutated), any JSON at all,
or raw bytes. Most requests keep most parts right, so that they get past the
guards and reach the code behind them, with one or two parts wrong.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from hypothesis import strategies as st

from tests.fuzz.schemas import JSON_VALUES, SchemaValues, mostly, texts

# What HTTP lets through in a header value: visible ASCII, space, tab, obs-text.
_HEADER_TEXT = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f")
    | st.just("\t"),
    max_size=80,
)
_HEADER_NAMES = st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,20}", fullmatch=True).filter(
    # Framing is the HTTP server's business, not the app's.
    lambda name: name.lower() not in ("content-length", "transfer-encoding")
)
_CONTENT_TYPES = [
    "application/json; charset=utf-8",
    "text/plain;charset=UTF-8",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "text/html",
    "",
]
_CONTENT_ENCODINGS = ["gzip", "identity", "x-gzip", "br", "deflate", "gzip, gzip", ""]
_QUERY_TEXT = st.text(
    st.sampled_from("abz09-_.~%&=+;?#/ ") | st.characters(max_codepoint=0x7F),
    max_size=60,
)


@dataclass(frozen=True)
class Request:
    """One generated HTTP request."""

    method: str
    path: str
    query_string: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    def __str__(self) -> str:
        query = f"?{self.query_string}" if self.query_string else ""
        return (
            f"{self.method} {self.path}{query} headers={self.headers!r} "
            f"body={self.body[:400]!r}"
        )


@dataclass(frozen=True)
class Known:
    """Values that mean something to the app.

    ``good`` holds the parameters of a request that passes the guards (a
    parameter it leaves out is left out of such a request); ``parameters``
    other values worth trying, by parameter name; ``credentials`` keys by
    security scheme name, the right one first, then wrong ones.
    """

    good: dict[str, str]
    parameters: dict[str, Sequence[str]]
    credentials: dict[str, Sequence[str]]


@dataclass(frozen=True)
class _Parts:
    path: dict[str, str]
    query: dict[str, str]
    credential: tuple[str, str, str] | None
    headers: dict[str, str]
    body: bytes
    compress: bool
    raw_query: str | None


class RequestStrategies:
    """Draws requests to the operations of one OpenAPI document."""

    def __init__(
        self, document: dict[str, Any], values: SchemaValues, known: Known
    ) -> None:
        self._document = document
        self._values = values
        self._known = known

    def for_operation(self, path: str, method: str) -> st.SearchStrategy[Request]:
        """Requests to ``method`` ``path`` (a path template of the document)."""
        operation = self._document["paths"][path][method]
        parameters = operation.get("parameters", [])
        parts = st.builds(
            _Parts,
            path=mostly(self._good(parameters, "path"), self._path(parameters)),
            query=mostly(self._good(parameters, "query"), self._query(parameters)),
            credential=mostly(
                self._good_credential(operation), self._credential(operation)
            ),
            headers=mostly(
                self._good_headers(parameters, operation), self._headers(parameters)
            ),
            body=mostly(self._good_body(operation), self._body(operation)),
            compress=mostly(st.just(True), st.just(False)),
            raw_query=mostly(st.none(), _QUERY_TEXT),
        )
        return parts.map(lambda p: _assemble(method.upper(), path, p))

    # --- the parts of a request that passes the guards -----------------------

    def _good(
        self, parameters: list[dict[str, Any]], where: str
    ) -> st.SearchStrategy[dict[str, str]]:
        good = self._known.good
        return st.just(
            {
                p["name"]: good[p["name"]]
                for p in parameters
                if p["in"] == where and p["name"] in good
            }
        )

    def _good_credential(
        self, operation: dict[str, Any]
    ) -> st.SearchStrategy[tuple[str, str, str] | None]:
        schemes = self._document["components"]["securitySchemes"]
        names = [name for option in operation.get("security", []) for name in option]
        placed: list[tuple[str, str, str] | None] = [
            _placed(schemes[n], self._known.credentials[n][0]) for n in names
        ]
        return st.sampled_from(placed or [None])

    def _good_headers(
        self, parameters: list[dict[str, Any]], operation: dict[str, Any]
    ) -> st.SearchStrategy[dict[str, str]]:
        media_types = list(operation.get("requestBody", {}).get("content", {}))
        headers = {"Content-Type": media_types[0]} if media_types else {}
        return st.builds(
            lambda good: {**headers, **good}, self._good(parameters, "header")
        )

    def _good_body(self, operation: dict[str, Any]) -> st.SearchStrategy[bytes]:
        content = operation.get("requestBody", {}).get("content")
        if not content:
            return st.just(b"")
        schema = next(iter(content.values()))["schema"]
        return st.builds(_json_bytes, self._values.valid(schema), st.just(True))

    # --- fuzzed parts ------------------------------------------------------

    def _path(
        self, parameters: list[dict[str, Any]]
    ) -> st.SearchStrategy[dict[str, str]]:
        # A value holding "/" (or none at all) addresses no route of the
        # template, nor does a newline before a ":verb" suffix in Falcon's router.
        segment = st.text(min_size=1, max_size=40).filter(_one_segment)
        return st.fixed_dictionaries(
            {
                p["name"]: self._parameter(p).filter(_one_segment) | segment
                for p in parameters
                if p["in"] == "path"
            }
        )

    def _query(
        self, parameters: list[dict[str, Any]]
    ) -> st.SearchStrategy[dict[str, str]]:
        strangers = st.dictionaries(texts(max_size=12), texts(max_size=30), max_size=2)
        return st.builds(
            lambda documented, other: {**other, **documented},
            self._named_values(parameters, "query"),
            strangers,
        )

    def _headers(
        self, parameters: list[dict[str, Any]]
    ) -> st.SearchStrategy[dict[str, str]]:
        content = st.fixed_dictionaries(
            {},
            optional={
                "Content-Type": st.sampled_from(_CONTENT_TYPES) | _HEADER_TEXT,
                "Content-Encoding": st.sampled_from(_CONTENT_ENCODINGS),
            },
        )
        strangers = st.dictionaries(_HEADER_NAMES, _HEADER_TEXT, max_size=3)
        return st.builds(
            lambda *parts: {k: v for part in parts for k, v in part.items()},
            strangers,
            content,
            self._named_values(parameters, "header", header=True),
        )

    def _named_values(
        self, parameters: list[dict[str, Any]], where: str, *, header: bool = False
    ) -> st.SearchStrategy[dict[str, str]]:
        chosen = [p for p in parameters if p["in"] == where]
        values = {p["name"]: self._parameter(p, header=header) for p in chosen}
        required = {p["name"] for p in chosen if p.get("required")}
        return st.fixed_dictionaries(
            {name: value for name, value in values.items() if name in required},
            optional={n: v for n, v in values.items() if n not in required},
        )

    def _parameter(
        self, parameter: dict[str, Any], *, header: bool = False
    ) -> st.SearchStrategy[str]:
        name = parameter["name"]
        known = [*self._known.parameters.get(name, [])]
        if name in self._known.good:
            known.append(self._known.good[name])
        shaped = self._values.valid(parameter.get("schema", {})).map(str)
        anything = _HEADER_TEXT if header else texts(max_size=40)
        if header:
            shaped = shaped.filter(_fits_a_header)
        if known:
            return st.sampled_from(known) | shaped | anything
        return shaped | anything

    def _credential(
        self, operation: dict[str, Any]
    ) -> st.SearchStrategy[tuple[str, str, str] | None]:
        """(where, name, value) of one scheme the operation takes, or None."""
        schemes = self._document["components"]["securitySchemes"]
        names = [name for option in operation.get("security", []) for name in option]
        options = [self._scheme(name, schemes[name]) for name in names]
        return st.one_of([st.none(), *options])

    def _scheme(
        self, name: str, scheme: dict[str, Any]
    ) -> st.SearchStrategy[tuple[str, str, str]]:
        known = list(self._known.credentials.get(name, ["none known"]))
        value = st.sampled_from(known) | _HEADER_TEXT
        if scheme["type"] == "http":
            prefix = st.sampled_from(["Bearer ", "bearer  ", "Basic ", "Bearer", ""])
            value = st.builds(str.__add__, prefix, value)
        return st.builds(lambda v: _placed(scheme, v, raw=True), value)

    def _body(self, operation: dict[str, Any]) -> st.SearchStrategy[bytes]:
        raw = st.binary(max_size=200)
        content = operation.get("requestBody", {}).get("content")
        if not content:
            return st.just(b"") | raw
        schema = next(iter(content.values()))["schema"]
        value = st.one_of(self._values.mutated(schema), JSON_VALUES)
        encoded = st.builds(_json_bytes, value, st.booleans())
        return mostly(encoded, raw | st.just(b""), odds=2)


def _placed(
    scheme: dict[str, Any], key: str, *, raw: bool = False
) -> tuple[str, str, str]:
    """(where, name, value) of ``key`` sent by ``scheme``; ``raw`` adds no prefix."""
    if scheme["type"] == "http":
        return "header", "Authorization", key if raw else f"Bearer {key}"
    return scheme["in"], scheme["name"], key


def _assemble(method: str, template: str, parts: _Parts) -> Request:
    path = template
    for name, value in parts.path.items():
        path = path.replace("{" + name + "}", _quoted(value))
    query, headers = dict(parts.query), dict(parts.headers)
    if parts.credential is not None:
        where, name, value = parts.credential
        (headers if where == "header" else query)[name] = value
    text = "&".join(f"{_quoted(k)}={_quoted(v)}" for k, v in query.items())
    if parts.raw_query is not None:
        text = parts.raw_query.lstrip("?")
    body = parts.body
    encoding = headers.get("Content-Encoding", "").strip().lower()
    if parts.compress and encoding in ("gzip", "x-gzip"):
        body = gzip.compress(body)
    return Request(method, path, text, headers, body)


def _one_segment(value: str) -> bool:
    return bool(value) and "/" not in value and "\n" not in value


def _quoted(text: str) -> str:
    # A lone surrogate goes out as the bytes Python would give it: invalid UTF-8.
    return quote(text, safe="", errors="surrogatepass")


def _json_bytes(value: Any, ascii_only: bool) -> bytes:
    """JSON text of ``value``; lone surrogates as escapes, or as invalid UTF-8."""
    text = json.dumps(value, ensure_ascii=ascii_only)
    return text.encode("utf-8", "surrogatepass")


def _fits_a_header(value: str) -> bool:
    return all(
        ch == "\t" or (0x20 <= ord(ch) <= 0xFF and ord(ch) != 0x7F) for ch in value
    )
