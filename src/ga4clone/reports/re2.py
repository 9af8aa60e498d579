"""What ClickHouse's regular expression engine, RE2, refuses of Python's syntax.

Filters are compiled with Python's ``re`` first, which catches malformed
patterns. RE2 runs in linear time and so leaves out every construct that needs
backtracking; :func:`re2_refusal` names the first such construct of a pattern
Python accepts, so that a request is refused before any query runs.
"""

from __future__ import annotations

import re

_TOKEN = re.compile(
    r"""
      \\[0-7]{3}                    # an octal escape, which both engines read
    | \\.                           # any other escape
    | \[\^?\]?(?:\\.|[^\]\\])*\]    # a character class
    | \(\?                          # the opening of an extension group
    | \{\d+(?:,\d*)?\}              # a counted repetition
    | .
    """,
    re.VERBOSE | re.DOTALL,
)
_CLASS_ESCAPE = re.compile(r"\\(?:[0-7]{1,3}|.)", re.DOTALL)
# What RE2 takes after "(?": flags i, m, s (or their negation), or a name.
_RE2_GROUP = re.compile(r"[ims]*(?:-[ims]*)?[:)]|P<\w+>")
_GROUPS = {
    "=": "a lookahead (?=...)",
    "!": "a negative lookahead (?!...)",
    "<=": "a lookbehind (?<=...)",
    "<!": "a negative lookbehind (?<!...)",
    ">": "an atomic group (?>...)",
    "P=": "a named backreference (?P=...)",
    "(": "a conditional group (?(...)...)",
    "#": "a comment (?#...)",
}
_ESCAPES = {
    "Z": r"\Z (use $)",
    "u": r"a \u escape (use \x{...})",
    "U": r"a \U escape (use \x{...})",
    "N": r"a \N{...} escape",
}
MAX_REPEAT = 1000  # RE2's limit on the count of a repetition


def re2_refusal(pattern: str) -> str | None:
    """The first construct of ``pattern`` that RE2 refuses, or None.

    ``pattern`` must already compile with Python's ``re``.
    """
    after_repeat = False
    for match in _TOKEN.finditer(pattern):
        token = match.group()
        if token == "+" and after_repeat:
            return "a possessive quantifier (*+, ++, ?+)"
        refusal = _token_refusal(token, pattern[match.end() :])
        if refusal is not None:
            return refusal
        # A ? after a quantifier makes it lazy, which RE2 also knows.
        after_repeat = not after_repeat and _is_repeat(token)
    return None


def _is_repeat(token: str) -> bool:
    return token in ("*", "+", "?") or (len(token) > 1 and token[0] == "{")


def _token_refusal(token: str, rest: str) -> str | None:
    if token == "(?":
        return None if _RE2_GROUP.match(rest) else _group_refusal(rest)
    if token.startswith("["):
        return _class_refusal(token)
    if token.startswith("{"):
        counts = re.findall(r"\d+", token)
        if any(int(count) > MAX_REPEAT for count in counts):
            return f"a repetition count above {MAX_REPEAT}"
        return None
    if re.fullmatch(r"\\[1-9]", token):
        return "a backreference (\\1 ...)"
    if token.startswith("\\"):
        return _ESCAPES.get(token[1:])
    return None


def _group_refusal(rest: str) -> str:
    for prefix, name in _GROUPS.items():
        if rest.startswith(prefix):
            return name
    return "an inline flag other than i, m and s"


def _class_refusal(token: str) -> str | None:
    for escape in _CLASS_ESCAPE.findall(token):
        if escape[1:] in _ESCAPES:
            return _ESCAPES[escape[1:]]
        if escape == "\\b":
            return r"\b in a character class (use \x08)"
        if re.fullmatch(r"\\[1-9]", escape):
            return "a one-digit octal escape in a character class (use \\x..)"
    return None
