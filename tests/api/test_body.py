"""Body decoding without a server: gzip limits and the nesting-depth scan."""

from __future__ import annotations

import gzip

import pytest

from ga4clone.api.body import BodyError, decode, nesting_depth_exceeds


def test_gzip_is_undone_within_the_limit() -> None:
    assert decode(gzip.compress(b'{"a": 1}'), "gzip", 100) == b'{"a": 1}'


def test_gzip_output_over_the_limit_is_413() -> None:
    with pytest.raises(BodyError) as caught:
        decode(gzip.compress(b"x" * 10_000), "gzip", 1000)

    assert caught.value.status == 413


@pytest.mark.parametrize("body", [b"not gzip", gzip.compress(b"x" * 100)[:-10]])
def test_broken_gzip_is_400(body: bytes) -> None:
    with pytest.raises(BodyError) as caught:
        decode(body, "gzip", 1000)

    assert caught.value.status == 400


def test_unknown_encodings_are_415() -> None:
    with pytest.raises(BodyError) as caught:
        decode(b"", "deflate", 1000)

    assert caught.value.status == 415


@pytest.mark.parametrize(
    ("body", "too_deep"),
    [
        (b"[[[1]]]", False),
        (b"[[[[1]]]]", True),
        (b'[{"a": "[[[[[[[["}]', False),
        (b'["\\"[[[[[["]', False),
        (b"[][][][][][][][]", False),
        (b"[[[[", True),
    ],
)
def test_depth_scan_ignores_brackets_inside_strings(
    body: bytes, too_deep: bool
) -> None:
    assert nesting_depth_exceeds(body, 3) is too_deep
