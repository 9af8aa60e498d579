"""Country codes are shown as the English names GA4 gives them, by every engine."""

from __future__ import annotations

import pytest

from ga4clone.reports import catalog
from ga4clone.reports.countries import COUNTRY_NAMES
from ga4clone.reports.engines import Engine
from ga4clone.reports.query import Query


@pytest.mark.parametrize(
    ("code", "name"),
    [
        ("US", "United States"),
        ("GB", "United Kingdom"),
        ("DE", "Germany"),
        ("KR", "South Korea"),
        ("KP", "North Korea"),
        ("RU", "Russia"),
        ("IR", "Iran"),
        ("VN", "Vietnam"),
        ("TW", "Taiwan"),
        ("BO", "Bolivia"),
        ("CD", "Congo - Kinshasa"),
        ("BA", "Bosnia & Herzegovina"),
        ("MM", "Myanmar (Burma)"),
        ("CZ", "Czechia"),
        ("XK", "Kosovo"),
    ],
)
def test_a_country_code_is_named_as_ga4_names_it(code: str, name: str) -> None:
    assert COUNTRY_NAMES[code] == name


def test_every_iso_code_has_a_name_of_its_own() -> None:
    codes = [code for code in COUNTRY_NAMES if code != "XK"]

    assert len(codes) >= 249
    assert all(len(code) == 2 and code.isupper() for code in codes)
    assert len(set(COUNTRY_NAMES.values())) == len(COUNTRY_NAMES)


def test_the_engine_names_every_code_as_python_does(engine: Engine) -> None:
    country = catalog.DIMENSIONS["country"]
    codes = [*COUNTRY_NAMES, "", "ZZ"]
    sql = (
        f"SELECT geo_country, {country.sql} FROM "
        "(SELECT arrayJoin({codes:Array(String)}) AS geo_country)"
    )

    rows = engine.execute(Query(sql, {**country.params, "codes": codes}))

    wanted = {**COUNTRY_NAMES, "": "(not set)", "ZZ": "ZZ"}
    assert dict((str(code), str(name)) for code, name in rows) == wanted
