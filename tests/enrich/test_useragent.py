"""Devices and bots from real-world User-Agent strings."""

from __future__ import annotations

import pytest

from ga4clone.enrich.useragent import parse_agent

CHROME_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)
SAFARI_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)
CHROME_ANDROID = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36"
)
IPAD = (
    "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1"
)
FIREFOX_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
SMART_TV = (
    "Mozilla/5.0 (SMART-TV; Linux; Tizen 6.0) AppleWebKit/538.1 "
    "(KHTML, like Gecko) Version/6.0 TV Safari/538.1"
)
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
BINGBOT = "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)"
CURL = "curl/8.5.0"


@pytest.mark.parametrize(
    ("user_agent", "browser", "os", "category"),
    [
        (CHROME_WINDOWS, "Chrome", "Windows", "desktop"),
        (SAFARI_IPHONE, "Mobile Safari", "iOS", "mobile"),
        (CHROME_ANDROID, "Chrome Mobile", "Android", "mobile"),
        (IPAD, "Mobile Safari", "iOS", "tablet"),
        (FIREFOX_LINUX, "Firefox", "Linux", "desktop"),
        (SMART_TV, "Safari", "Tizen", "smart tv"),
    ],
)
def test_browsers_are_named_with_their_os_and_category(
    user_agent: str, browser: str, os: str, category: str
) -> None:
    agent = parse_agent(user_agent)

    assert (agent.browser, agent.operating_system, agent.category) == (
        browser,
        os,
        category,
    )
    assert not agent.is_bot


def test_versions_keep_major_and_minor() -> None:
    agent = parse_agent(SAFARI_IPHONE)

    assert (agent.browser_version, agent.operating_system_version) == ("17.5", "17.5")
    assert (agent.brand, agent.model) == ("Apple", "iPhone")


@pytest.mark.parametrize(
    "user_agent", [GOOGLEBOT, BINGBOT, CURL, "python-requests/2.32"]
)
def test_crawlers_and_http_clients_are_bots(user_agent: str) -> None:
    assert parse_agent(user_agent).is_bot


GOOGLEBOT_SMARTPHONE = (
    "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36 "
    "(compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
)
# Chrome's reduced User-Agent: the Android version and model are frozen ("K").
REDUCED_ANDROID_PHONE = (
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36"
)
REDUCED_ANDROID_TABLET = (
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)
OLD_ANDROID = (
    "Mozilla/5.0 (Linux; U; Android 4.0.3; en-us) AppleWebKit/534.30 "
    "(KHTML, like Gecko) Version/4.0 Mobile Safari/534.30"
)
SAMSUNG = (
    "Mozilla/5.0 (Linux; Android 13; SM-S918B) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36"
)


@pytest.mark.parametrize(
    "user_agent",
    [
        GOOGLEBOT,
        BINGBOT,
        GOOGLEBOT_SMARTPHONE,
        REDUCED_ANDROID_PHONE,
        REDUCED_ANDROID_TABLET,
        OLD_ANDROID,
    ],
)
def test_placeholder_brands_and_models_are_blank(user_agent: str) -> None:
    agent = parse_agent(user_agent)

    assert (agent.brand, agent.model) == ("", "")


def test_a_reduced_android_user_agent_keeps_its_category() -> None:
    phone, tablet = (
        parse_agent(REDUCED_ANDROID_PHONE),
        parse_agent(REDUCED_ANDROID_TABLET),
    )

    assert (phone.category, tablet.category) == ("mobile", "tablet")
    assert phone.operating_system == "Android"


@pytest.mark.parametrize(
    ("user_agent", "brand", "model"),
    [(CHROME_ANDROID, "Google", "Pixel 8"), (SAMSUNG, "Samsung", "SM-S918B")],
)
def test_real_makers_and_models_are_kept(
    user_agent: str, brand: str, model: str
) -> None:
    agent = parse_agent(user_agent)

    assert (agent.brand, agent.model) == (brand, model)


def test_a_phone_named_like_a_bot_is_not_one() -> None:
    cubot = (
        "Mozilla/5.0 (Linux; Android 10; CUBOT X30 Build/QP1A) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36"
    )

    assert not parse_agent(cubot).is_bot


def test_an_empty_user_agent_says_nothing() -> None:
    agent = parse_agent("")

    assert (agent.browser, agent.category, agent.is_bot) == ("", "", False)
