"""One object the worker asks for everything enrichment adds to an event.

What depends only on the request (device, bot flag, place) is computed once
per message by :meth:`Enricher.visitor`; what depends on the event (page,
referrer, traffic source) by :meth:`Enricher.page`, which takes the host of a
bare path from the request's Origin. Measurement Protocol messages come from
the sender's servers, so their User-Agent and address describe a server, not
the user: only what the sender said (``device``, ``user_location``) is used
for them.
"""

from __future__ import annotations

from dataclasses import dataclass

from ga4clone.enrich.geo import NOWHERE, GeoLookup, Place
from ga4clone.enrich.pages import Page, origin_host, parse_page, parse_referrer
from ga4clone.enrich.regions import continent_name, sub_continent_name
from ga4clone.enrich.sources import Source, classify
from ga4clone.enrich.useragent import Agent, parse_agent
from ga4clone.events import Device, Event, EventMessage, UserLocation
from ga4clone.settings import Settings

MP_ENDPOINT = "mp"
_NO_AGENT = Agent("", "", "", "", "", "", "", False)


@dataclass(frozen=True, slots=True)
class Visitor:
    """What a message says about who sent its events."""

    agent: Agent
    place: Place
    language: str


@dataclass(frozen=True, slots=True)
class Enriched:
    """What an event's page and referrer say about it."""

    page: Page
    title: str
    referrer: str
    source: Source


class Enricher:
    """Derives device, bot, page, traffic source and geo facts of events."""

    def __init__(self, geo: GeoLookup | None = None, *, store_bots: bool = True):
        self._geo = geo
        self.store_bots = store_bots

    @classmethod
    def from_settings(cls, settings: Settings) -> Enricher:
        """An enricher with the configured geo database, if any."""
        path = settings.geoip_database_path
        return cls(GeoLookup(path) if path else None, store_bots=settings.store_bots)

    def close(self) -> None:
        if self._geo is not None:
            self._geo.close()

    def is_bot(self, message: EventMessage) -> bool:
        """Whether the message came from a known bot (cached by User-Agent)."""
        if message.ingest_endpoint == MP_ENDPOINT:
            return False
        return parse_agent(message.user_agent).is_bot

    def visitor(self, message: EventMessage) -> Visitor:
        """Device, bot flag and place of the message's sender."""
        if message.ingest_endpoint == MP_ENDPOINT:
            agent, place = _NO_AGENT, NOWHERE
        else:
            agent = parse_agent(message.user_agent)
            place = self._place(message.client_ip)
        language = ""
        if message.device is not None:
            agent = _override_agent(agent, message.device)
            language = message.device.language or ""
        if message.user_location is not None:
            place = _override_place(place, message.user_location)
        return Visitor(agent, place, language)

    def _place(self, address: str) -> Place:
        return self._geo.place(address) if self._geo is not None else NOWHERE

    def page(self, event: Event, origin: str | None = None) -> Enriched:
        """Page parts, title, referrer and traffic source of one event.

        ``origin`` is the request's Origin header; an http(s) origin's host
        is the hostname of a page location that names none (a bare path).
        """
        params = event.params
        location = event.path or _text(params.get("page_location"))
        page = parse_page(location, origin_host(origin) if origin else "")
        referrer = event.referrer or _text(params.get("page_referrer"))
        source = classify(page.tags, parse_referrer(referrer), page.hostname)
        return Enriched(page, _text(params.get("page_title")), referrer, source)


def _text(value: object) -> str:
    return value if type(value) is str else ""


def _override_agent(agent: Agent, device: Device) -> Agent:
    return Agent(
        browser=device.browser or agent.browser,
        browser_version=device.browser_version or agent.browser_version,
        operating_system=device.operating_system or agent.operating_system,
        operating_system_version=(
            device.operating_system_version or agent.operating_system_version
        ),
        category=(device.category or agent.category).lower(),
        brand=device.brand or agent.brand,
        model=device.model or agent.model,
        is_bot=agent.is_bot,
    )


def _override_place(place: Place, location: UserLocation) -> Place:
    # The sender's M49 codes are stored as the names the geo database gives.
    continent = continent_name(location.continent_id or "")
    sub_continent = sub_continent_name(location.subcontinent_id or "")
    return Place(
        continent=continent or place.continent,
        sub_continent=sub_continent or place.sub_continent,
        country=location.country_id or place.country,
        region=location.region_id or place.region,
        city=location.city or place.city,
        metro=place.metro,
    )
