"""The README keeps up with the code: every setting is in its table."""

from __future__ import annotations

import re

from ga4clone.settings import Settings
from tests.conftest import ROOT


def test_readme_lists_every_setting_with_its_default() -> None:
    readme = (ROOT / "README.md").read_text()
    rows = dict(re.findall(r"^\| `([A-Z0-9_]+)` \| ([^|]+) \|", readme, re.MULTILINE))

    for name, field in Settings.model_fields.items():
        assert name.upper() in rows, f"{name.upper()} is missing from the README"
        default = field.default
        if isinstance(default, bool):
            default = str(default).lower()
        if default in ("", None) or field.default_factory is not None:
            expected = "(empty)"
        else:
            expected = f"`{default}`"
        assert rows[name.upper()].strip() == expected, name.upper()
