"""Each engine sends the settings its server's version knows, and no other."""

from __future__ import annotations

import pytest

from ga4clone.migrate import parse_version
from ga4clone.reports.engines import Engine, query_settings
from ga4clone.reports.query import Query

_FINAL_SETTING = "do_not_merge_across_partitions_select_final"


@pytest.mark.parametrize(
    ("version", "wanted"),
    [
        ((18, 16), {}),
        ((20, 11), {}),
        ((21, 1), {}),
        ((21, 2), {_FINAL_SETTING: 1}),
        ((24, 8), {_FINAL_SETTING: 1}),
    ],
)
def test_final_setting_is_asked_of_servers_that_have_it_right(
    version: tuple[int, int], wanted: dict[str, int]
) -> None:
    assert query_settings(version) == wanted


def test_queries_carry_the_settings_of_their_server(engine: Engine) -> None:
    [(version,)] = engine.execute(Query("SELECT version()", {}))
    wanted = query_settings(parse_version(str(version)))

    found = {
        name: engine.execute(Query(f"SELECT * FROM (SELECT getSetting('{name}'))", {}))
        for name in wanted
    }

    # The 18.16 server knows neither the setting nor getSetting: that it
    # answers every report at all shows that nothing is sent to it.
    assert {name: int(rows[0][0]) for name, rows in found.items()} == wanted
