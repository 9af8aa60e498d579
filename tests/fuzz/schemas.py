"""Hypothesis strategies that draw JSON values from an OpenAPI document's schemas.

:class:`SchemaValues` walks a JSON schema (the subset the document uses:
``$ref``, ``anyOf``, ``const``, ``enum``, ``type``, string, number, array and
object keywords) and draws values that fit it (``valid``), or that fit it but
here and there (``mutated``: a value of any type in place of one, a required
property left out, an unknown one added, a string too long). Strings also
draw from a vocabulary (the schema's ``examples``, and words the caller
knows the API reads). The caller's hints, by property name, fill in what no
schema states: a strategy (a project id, a timestamp of now) that valid
values always draw from and mutated ones mostly, or keywords that narrow the
schema (``minItems``). A hinted property is always there in valid values, so
that they get past the app's checks and reach the code behind them.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from typing import Any

from hypothesis import strategies as st

# How many $ref hops a value may nest (filter expressions refer to themselves).
MAX_DEPTH = 5
# Array sizes drawn for a schema without a smaller maxItems.
MAX_ITEMS = 4
# Surrogates, NUL and other controls, bidi marks, a BOM and a non-character.
ODD_CHARACTERS = st.characters(categories=["Cs", "Cc", "Cf"]) | st.sampled_from(
    ["\ufffe", "\uffff", "\U0010ffff", "\u2028", "\\", '"']
)
_MISSING = object()


def mostly(
    usual: st.SearchStrategy[Any], other: st.SearchStrategy[Any], odds: int = 3
) -> st.SearchStrategy[Any]:
    """``usual`` ``odds`` times as often as ``other``.

    Not ``one_of(usual, usual, usual, other)``: one_of drops repeated branches.
    """
    return st.integers(0, odds).flatmap(lambda n: usual if n else other)


def texts(min_size: int = 0, max_size: int = 60) -> st.SearchStrategy[str]:
    """Arbitrary text, now and then made of odd characters only."""
    return mostly(
        st.text(min_size=min_size, max_size=max_size),
        st.text(ODD_CHARACTERS, min_size=min_size, max_size=max_size),
        odds=4,
    )


_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=2**63 - 2, max_value=2**64 + 1)
    | st.floats()
    | texts()
)
JSON_VALUES: st.SearchStrategy[Any] = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(texts(max_size=20), inner, max_size=4)
    ),
    max_leaves=10,
)


class SchemaValues:
    """Draws values from the schemas of one OpenAPI document."""

    def __init__(
        self,
        document: dict[str, Any],
        vocabulary: Sequence[str],
        ids: Sequence[str],
        hints: Mapping[str, Any] | None = None,
    ) -> None:
        self._components: dict[str, Any] = document["components"]["schemas"]
        self._vocabulary = sorted(set(vocabulary))
        self._ids = st.sampled_from(sorted(set(ids))) | st.uuids().map(str)
        self._hints = dict(hints or {})
        self._built: dict[tuple[str, int, bool], st.SearchStrategy[Any]] = {}

    def valid(self, schema: dict[str, Any]) -> st.SearchStrategy[Any]:
        """Values that fit ``schema``."""
        return self._node(schema, 0, mutate=False)

    def mutated(self, schema: dict[str, Any]) -> st.SearchStrategy[Any]:
        """Values that fit ``schema`` except in a few places."""
        return self._node(schema, 0, mutate=True)

    def _node(
        self, schema: dict[str, Any], depth: int, *, mutate: bool
    ) -> st.SearchStrategy[Any]:
        exact = self._exact(schema, depth, mutate=mutate)
        if not mutate or exact.is_empty:
            return exact
        # One value in four is of any type at all.
        return mostly(exact, JSON_VALUES)

    def _exact(
        self, schema: dict[str, Any], depth: int, *, mutate: bool
    ) -> st.SearchStrategy[Any]:
        if "$ref" in schema:
            return self._ref(schema["$ref"], depth + 1, mutate=mutate)
        for key in ("anyOf", "oneOf"):
            if key in schema:
                return st.one_of(
                    [self._exact(s, depth, mutate=mutate) for s in schema[key]]
                )
        if "const" in schema:
            return st.just(schema["const"])
        if "enum" in schema:
            return st.sampled_from(schema["enum"])
        kinds = schema.get("type")
        if kinds is None:
            return JSON_VALUES
        if isinstance(kinds, list):
            return st.one_of([self._typed(k, schema, depth, mutate) for k in kinds])
        return self._typed(kinds, schema, depth, mutate)

    def _ref(self, ref: str, depth: int, *, mutate: bool) -> st.SearchStrategy[Any]:
        if depth > MAX_DEPTH:
            return st.nothing()
        # Drawn through a composite, whose repr names the component: the
        # repr of the unrolled strategy itself grows exponentially with depth.
        return _component(self, ref.rsplit("/", 1)[-1], depth, mutate)

    def built(self, name: str, depth: int, mutate: bool) -> st.SearchStrategy[Any]:
        """The strategy of component ``name`` at ``depth``, built once."""
        key = (name, depth, mutate)
        if key not in self._built:
            self._built[key] = self._exact(self._components[name], depth, mutate=mutate)
        return self._built[key]

    def __repr__(self) -> str:
        return "SchemaValues(...)"

    def _typed(
        self, kind: str, schema: dict[str, Any], depth: int, mutate: bool
    ) -> st.SearchStrategy[Any]:
        if kind == "object":
            return self._object(schema, depth, mutate)
        if kind == "array":
            return self._array(schema, depth, mutate)
        if kind == "string":
            return self._string(schema, mutate)
        if kind == "integer":
            return st.integers(schema.get("minimum"), schema.get("maximum"))
        if kind == "number":
            return st.integers() | st.floats(allow_nan=False, allow_infinity=False)
        if kind == "boolean":
            return st.booleans()
        return st.none()

    def _string(self, schema: dict[str, Any], mutate: bool) -> st.SearchStrategy[str]:
        low, high = schema.get("minLength", 0), schema.get("maxLength", 60)
        if "pattern" in schema:
            valid: st.SearchStrategy[str] = st.from_regex(
                schema["pattern"], fullmatch=True
            )
        elif schema.get("format") == "uuid":
            valid = self._ids
        elif schema.get("format") == "date":
            valid = st.dates(dt.date(1, 1, 1)).map(dt.date.isoformat)
        else:
            words = schema.get("examples", self._vocabulary)
            fitting = [w for w in words if low <= len(w) <= high]
            valid = texts(low, min(high, 60))
            if fitting:
                valid = mostly(st.sampled_from(fitting), valid)
        if mutate:
            # A string just over the limit, and one far over it.
            over = st.integers(high + 1, high + 2 * high + 10).map("x".__mul__)
            return valid | over | texts()
        return valid

    def _array(
        self, schema: dict[str, Any], depth: int, mutate: bool
    ) -> st.SearchStrategy[list[Any]]:
        items = self._node(schema.get("items", {}), depth, mutate=mutate)
        low = schema.get("minItems", 0)
        high = min(schema.get("maxItems", MAX_ITEMS), max(low, MAX_ITEMS))
        if items.is_empty:
            return st.just([]) if low == 0 else st.nothing()
        if schema.get("uniqueItems"):
            return st.lists(items, min_size=low, max_size=high, unique_by=_canonical)
        return st.lists(items, min_size=low, max_size=high)

    def _object(
        self, schema: dict[str, Any], depth: int, mutate: bool
    ) -> st.SearchStrategy[dict[str, Any]]:
        required = set(schema.get("required", []))
        fixed: dict[str, st.SearchStrategy[Any]] = {}
        optional: dict[str, st.SearchStrategy[Any]] = {}
        for name, sub in schema.get("properties", {}).items():
            hint = self._hints.get(name)
            if isinstance(hint, dict):
                sub = {**sub, **hint}
            value = self._node(sub, depth, mutate=mutate)
            if value.is_empty:
                continue
            if isinstance(hint, st.SearchStrategy):
                value = mostly(hint, value) if mutate else hint
            if name in required:
                # A mutated object now and then lacks a required property.
                fixed[name] = (
                    mostly(value, st.just(_MISSING), odds=5) if mutate else value
                )
            elif hint is not None and not mutate:
                fixed[name] = value
            else:
                optional[name] = value
        shaped = st.fixed_dictionaries(fixed, optional=optional)
        extra = self._extra(schema, depth, mutate)
        if extra is None:
            return shaped.map(_present)
        return st.builds(_merge, shaped, extra)

    def _extra(
        self, schema: dict[str, Any], depth: int, mutate: bool
    ) -> st.SearchStrategy[dict[str, Any]] | None:
        """Properties beyond the listed ones: those the schema allows, or any."""
        additional = schema.get("additionalProperties", True)
        if isinstance(additional, dict):
            names = schema.get("propertyNames", {})
            keys = self._string({"type": "string", **names}, mutate)
            values = self._node(additional, depth, mutate=mutate)
            most = min(schema.get("maxProperties", 3), 3)
            return st.dictionaries(keys, values, max_size=most)
        if mutate:
            return st.dictionaries(texts(max_size=20), JSON_VALUES, max_size=2)
        return None


@st.composite
def _component(
    draw: st.DrawFn, values: SchemaValues, name: str, depth: int, mutate: bool
) -> Any:
    return draw(values.built(name, depth, mutate))


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def _present(values: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in values.items() if value is not _MISSING}


def _merge(shaped: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    return {**extra, **_present(shaped)}
