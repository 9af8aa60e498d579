"""Enrichment wiring through the real API, RabbitMQ, worker and stores.

The origin's host for bare paths, the geo database of ``GEOIP_DATABASE_PATH``
and ``STORE_BOTS=false``, each from an ``/events`` request to ClickHouse and
PostgreSQL.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import falcon.testing
import pytest
from clickhouse_driver import Client
from mmdb_writer import MMDBWriter
from netaddr import IPSet

from ga4clone.api.app import create_app
from ga4clone.settings import Settings
from tests.conftest import daily_metric, make_event, stored_count, wait_for
from tests.enrich.test_geo import BERLIN
from tests.worker.test_consumer import RunningWorker

pytestmark = pytest.mark.integration

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
PARIS = {
    "continent": {"code": "EU"},
    "country": {"iso_code": "FR"},
    "subdivisions": [{"iso_code": "IDF"}],
    "city": {"names": {"en": "Paris"}},
}
# The networks hold the addresses the API queues by default: a client's
# address with its host part zeroed (IPv4 /24, IPv6 /48).
NETWORKS = {"198.51.100.0/24": BERLIN, "2001:db8:1234::/48": PARIS}


@pytest.fixture
def fast(settings: Settings) -> Settings:
    return settings.model_copy(update={"worker_flush_interval_ms": 100})


@asynccontextmanager
async def api(settings: Settings) -> AsyncIterator[falcon.testing.ASGIConductor]:
    async with falcon.testing.ASGIConductor(create_app(settings)) as conductor:
        yield conductor


async def send(
    client: falcon.testing.ASGIConductor,
    project: Any,
    headers: dict[str, str] | None = None,
    remote_addr: str = "127.0.0.1",
    **fields: Any,
) -> None:
    result = await client.simulate_post(
        "/events",
        json=make_event(project.id, **fields),
        headers={
            "X-Api-Key": project.write_key,
            "User-Agent": CHROME,
            **(headers or {}),
        },
        remote_addr=remote_addr,
    )
    assert result.status_code == 202


def rows(clickhouse: Client, project: Any, columns: str) -> list[tuple[Any, ...]]:
    """``columns`` of the project's stored events, ordered by client id."""
    return list(
        clickhouse.execute(
            f"SELECT {columns} FROM events FINAL WHERE project_id = %(p)s"
            " ORDER BY user_pseudo_id",
            {"p": str(project.id)},
        )
    )


def geo_database(path: Path) -> str:
    writer = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoIP2-City")
    for network, record in NETWORKS.items():
        writer.insert_network(IPSet([network]), record)
    writer.to_db_file(str(path))
    return str(path)


async def test_a_bare_path_is_stored_with_the_origins_host_and_internal_source(
    fast: Settings, project: Any, clickhouse: Client
) -> None:
    async with api(fast) as client:
        await send(
            client,
            project,
            {"Origin": "https://www.shop.example"},
            clientId="a-origin",
            referrer="https://shop.example/cart",
        )
        await send(
            client,
            project,
            {"Origin": "null"},
            clientId="b-null",
            referrer="https://shop.example/cart",
        )

    with RunningWorker(fast):
        wait_for(lambda: stored_count(clickhouse, project.id) == 2)

    assert rows(
        clickhouse,
        project,
        "user_pseudo_id, page_hostname, traffic_source_source, traffic_source_medium",
    ) == [
        ("a-origin", "www.shop.example", "(internal)", "(none)"),
        ("b-null", "", "shop.example", "referral"),
    ]
    assert (
        rows(clickhouse, project, "page_location, page_path")
        == [("/products/shoes", "/products/shoes")] * 2
    )


async def test_geo_columns_come_from_the_configured_database(
    fast: Settings, project: Any, clickhouse: Client, tmp_path: Path
) -> None:
    located = fast.model_copy(
        update={"geoip_database_path": geo_database(tmp_path / "city.mmdb")}
    )
    async with api(located) as client:
        await send(client, project, clientId="a-v4", remote_addr="198.51.100.77")
        await send(
            client, project, clientId="b-v6", remote_addr="2001:db8:1234:5678::9"
        )
        await send(client, project, clientId="c-unknown", remote_addr="203.0.113.5")

    with RunningWorker(located):
        wait_for(lambda: stored_count(clickhouse, project.id) == 3)

    assert rows(
        clickhouse,
        project,
        "user_pseudo_id, client_ip, geo_continent, geo_country, geo_region, geo_city",
    ) == [
        ("a-v4", "198.51.100.0", "Europe", "DE", "DE-BE", "Berlin"),
        ("b-v6", "2001:db8:1234::", "Europe", "FR", "FR-IDF", "Paris"),
        ("c-unknown", "203.0.113.0", "", "", "", ""),
    ]


async def test_without_store_bots_a_bots_event_is_neither_stored_nor_counted(
    fast: Settings, project: Any, clickhouse: Client, postgres: Any, amqp: Any
) -> None:
    humans_only = fast.model_copy(update={"store_bots": False})
    async with api(humans_only) as client:
        await send(client, project, {"User-Agent": GOOGLEBOT}, clientId="bot")
        await send(client, project, clientId="human")

    # Queued after the bot's message, the human's is stored after it was handled.
    with RunningWorker(humans_only):
        wait_for(lambda: daily_metric(postgres, project.id, "events") == 1)
        wait_for(lambda: stored_count(clickhouse, project.id) == 1)

    assert rows(clickhouse, project, "user_pseudo_id, is_bot") == [("human", 0)]
    assert daily_metric(postgres, project.id, "page_views") == 1
    for queue in (humans_only.rabbitmq_queue, humans_only.rabbitmq_dead_letter_queue):
        assert amqp.queue_declare(queue, passive=True).method.message_count == 0
