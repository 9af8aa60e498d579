"""Reading request bodies: size limits, gzip, and a cheap nesting-depth scan.

``Content-Encoding: gzip`` is accepted because SDKs batching many events
compress them. The decompressed size is capped by ``MAX_BODY_BYTES`` as it
is produced (``zlib.decompressobj`` with ``max_length``), so a small bomb that
inflates to gigabytes is refused after ``MAX_BODY_BYTES`` of output.
"""

from __future__ import annotations

import zlib
from array import array
from collections.abc import AsyncIterable
from itertools import accumulate

_GZIP_WBITS = 16 + zlib.MAX_WBITS
_IDENTITY = frozenset({"", "identity"})
# A JSON string: quotes around anything but quotes and backslashes, or escapes.
_NOT_BRACKETS = bytes(sorted(set(range(256)) - set(b"[]{}")))
# Opening brackets become 1, closing ones 0xFF: -1 as a signed byte.
_STEPS = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")


class BodyError(Exception):
    """Raised when a body cannot be read; ``status`` says which answer fits."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


async def read_limited(
    stream: AsyncIterable[bytes], length: int | None, limit: int
) -> bytes:
    """The raw body, refusing (413) anything larger than ``limit`` bytes."""
    if length is not None and length > limit:
        raise BodyError(413, f"body is larger than {limit} bytes")
    body = bytearray()
    async for chunk in stream:
        body += chunk
        if len(body) > limit:
            raise BodyError(413, f"body is larger than {limit} bytes")
    return bytes(body)


def decode(body: bytes, encoding: str | None, limit: int) -> bytes:
    """The body with its Content-Encoding undone, at most ``limit`` bytes."""
    name = (encoding or "").strip().lower()
    if name in _IDENTITY:
        return body
    if name not in ("gzip", "x-gzip"):
        raise BodyError(415, "Content-Encoding must be gzip or identity")
    return _gunzip(body, limit)


def _gunzip(body: bytes, limit: int) -> bytes:
    inflater = zlib.decompressobj(_GZIP_WBITS)
    try:
        # One byte over the limit is enough to know the body is too large.
        out = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise BodyError(400, "body is not valid gzip") from exc
    if len(out) > limit:
        raise BodyError(413, f"decompressed body is larger than {limit} bytes")
    if not inflater.eof:
        raise BodyError(400, "gzip body is truncated")
    return out


def nesting_depth_exceeds(body: bytes, max_depth: int) -> bool:
    """Whether arrays and objects in the JSON ``body`` nest deeper than allowed.

    Strings are removed first, so brackets inside them do not count: with the
    escaped backslashes and then the escaped quotes gone, every remaining quote
    opens or closes a string, and every other piece between quotes is outside
    one. The brackets left become +1 and -1 steps whose running sum is the
    depth. Every step runs in C: a 25-event batch (14 KB) takes ~70 us.
    Malformed JSON is left to the parser.
    """
    if body.count(b"[") + body.count(b"{") <= max_depth:
        return False
    plain = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    outside = b"".join(plain.split(b'"')[::2])
    brackets = outside.translate(None, _NOT_BRACKETS)
    steps = array("b", brackets.translate(_STEPS))
    return max(accumulate(steps), default=0) > max_depth
