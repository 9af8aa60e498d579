"""Browser, operating system, device category and bot flag from a User-Agent.

ua-parser (with its maintained regexes) names the browser, the OS and the
device; the device category GA4 reports (desktop, mobile, tablet, smart tv)
is not among its answers, so it is derived here from the device and a few
well-known tokens. Bots are what ua-parser calls the ``Spider`` device, plus
the patterns of :data:`BOT_PATTERN` for clients it does not know.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import ua_parser

# HTTP libraries, command-line clients, monitors and crawlers ua-parser leaves
# as "Other"; matched case-insensitively anywhere in the User-Agent. "bot" must
# stand alone or end a product token ("Googlebot/2.1"), so that phone names
# such as "Cubot" are not taken for bots.
BOT_PATTERN = re.compile(
    r"bot/|bot;|\bbot\b|crawl|spider|slurp|curl/|wget/|python-requests|"
    r"python-urllib|aiohttp|httpx|go-http-client|java/|okhttp|libwww-perl|"
    r"headlesschrome|phantomjs|lighthouse|pingdom|uptimerobot|statuscake|"
    r"facebookexternalhit",
    re.IGNORECASE,
)
_SMART_TV = re.compile(
    r"smart-?tv|hbbtv|googletv|appletv|crkey|roku|aft[a-z]|bravia|web0s|tizen.+tv|"
    r"netcast|viera|playstation|xbox",
    re.IGNORECASE,
)
_TABLET_DEVICES = frozenset({"iPad", "Kindle", "Kindle Fire"})
_MOBILE_OS = frozenset({"iOS", "Android", "Windows Phone", "KaiOS", "BlackBerry OS"})
_OTHER = "Other"
# ua-parser's stand-in brands, not makers: with them the model is a stand-in
# too ("Desktop", "Smartphone", "Tablet", or the "K" of Chrome's reduced
# Android User-Agent). Both are blanked, as "Other" is.
_PLACEHOLDER_BRANDS = frozenset(
    {"Spider", "Generic", "Generic_Android", "Generic_Android_Tablet"}
)
_CACHED_AGENTS = 8192


@dataclass(frozen=True, slots=True)
class Agent:
    """What a User-Agent says; empty strings for what it does not."""

    browser: str
    browser_version: str
    operating_system: str
    operating_system_version: str
    category: str
    brand: str
    model: str
    is_bot: bool


@functools.lru_cache(maxsize=_CACHED_AGENTS)
def parse_agent(user_agent: str) -> Agent:
    """Parse ``user_agent``; the same string is parsed once per process."""
    if not user_agent:
        return Agent("", "", "", "", "", "", "", False)
    result = ua_parser.parse(user_agent)
    browser, os, device = result.user_agent, result.os, result.device
    device_family = device.family if device else _OTHER
    is_bot = device_family == "Spider" or BOT_PATTERN.search(user_agent) is not None
    os_family = os.family if os else ""
    brand, model = _brand_and_model(device)
    return Agent(
        browser=_named(browser.family if browser else ""),
        browser_version=_version(browser.major, browser.minor) if browser else "",
        operating_system=_named(os_family),
        operating_system_version=_version(os.major, os.minor) if os else "",
        category=_category(user_agent, device_family, os_family, is_bot=is_bot),
        brand=brand,
        model=model,
        is_bot=is_bot,
    )


def _brand_and_model(device: ua_parser.Device | None) -> tuple[str, str]:
    """The device's maker and model; empty for ua-parser's stand-ins."""
    if device is None or device.brand in _PLACEHOLDER_BRANDS:
        return "", ""
    return _named(device.brand or ""), _named(device.model or "")


def _named(name: str) -> str:
    return "" if name == _OTHER else name


def _version(major: str | None, minor: str | None) -> str:
    if not major:
        return ""
    return f"{major}.{minor}" if minor else major


def _category(user_agent: str, device: str, os: str, *, is_bot: bool) -> str:
    """GA4's device category: desktop, mobile, tablet or smart tv."""
    if is_bot:
        # GA4 would not report bots at all; "desktop" is what ua-parser's
        # Spider device models mostly say, but an honest blank is clearer.
        return ""
    if _SMART_TV.search(user_agent):
        return "smart tv"
    if device in _TABLET_DEVICES or "Tablet" in user_agent:
        return "tablet"
    if os == "Android":
        # Android phones send "Mobile"; Android tablets leave it out.
        return "mobile" if "Mobile" in user_agent else "tablet"
    if os in _MOBILE_OS:
        return "mobile"
    return "desktop"
