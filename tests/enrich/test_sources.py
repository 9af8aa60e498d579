"""Traffic sources from referrers and campaign tags, by the rule table."""

from __future__ import annotations

import pytest

from ga4clone.enrich.pages import Referrer, parse_page, parse_referrer
from ga4clone.enrich.sources import Source, classify

SHOP = "https://shop.example/products/shoes"


def source_of(location: str, referrer: str) -> Source:
    page = parse_page(location)
    return classify(page.tags, parse_referrer(referrer), page.hostname)


@pytest.mark.parametrize(
    ("location", "referrer", "expected"),
    [
        (SHOP, "https://www.google.com/", ("google", "organic")),
        (SHOP, "https://www.google.co.uk/search?q=x", ("google", "organic")),
        (SHOP + "?gclid=abc", "https://www.google.com/", ("google", "cpc")),
        (SHOP, "https://l.facebook.com/l.php?u=x", ("facebook", "social")),
        (SHOP, "https://t.co/abc", ("twitter", "social")),
        (SHOP, "https://mail.google.com/", ("gmail", "email")),
        (SHOP + "?utm_source=newsletter&utm_medium=email", "", ("newsletter", "email")),
        (SHOP, "https://shop.example/cart", ("(internal)", "(none)")),
        (SHOP, "https://blog.example.org/post", ("blog.example.org", "referral")),
        (SHOP, "", ("(direct)", "(none)")),
        (SHOP, "https://duckduckgo.com/", ("duckduckgo", "organic")),
    ],
)
def test_referrers_are_classified_by_the_rule_table(
    location: str, referrer: str, expected: tuple[str, str]
) -> None:
    found = source_of(location, referrer)

    assert (found.source, found.medium) == expected


@pytest.mark.parametrize(
    ("referrer", "expected"),
    [
        ("https://www.google.co.uk/", ("google", "organic")),
        ("https://google.de/search?q=x", ("google", "organic")),
        ("https://www.google.com.au/", ("google", "organic")),
        ("https://images.google.fr/", ("google", "organic")),
        ("https://duckduckgo.com/", ("duckduckgo", "organic")),
        ("https://www.bing.com/search?q=x", ("bing", "organic")),
        ("https://cn.bing.com/", ("bing", "organic")),
        ("https://search.yahoo.co.jp/search?p=x", ("yahoo", "organic")),
        ("https://search.yahoo.com/", ("yahoo", "organic")),
        ("https://yandex.ru/search/", ("yandex", "organic")),
        ("https://yandex.com.tr/", ("yandex", "organic")),
    ],
)
def test_real_search_engines_are_organic(
    referrer: str, expected: tuple[str, str]
) -> None:
    found = source_of(SHOP, referrer)

    assert (found.source, found.medium) == expected


@pytest.mark.parametrize(
    "host",
    [
        "google.evil.com",
        "bing.example.org",
        "yahoo.attacker.net",
        "www.google.com.evil.com",
        "google.attacker.co.uk",
        "com.google.android.gm",
    ],
)
def test_a_brand_label_under_someone_elses_domain_is_a_referral(host: str) -> None:
    found = source_of(SHOP, f"https://{host}/landing")

    assert (found.source, found.medium) == (host.removeprefix("www."), "referral")


@pytest.mark.parametrize(
    ("referrer", "expected"),
    [
        ("android-app://com.google.android.gm", ("gmail", "email")),
        ("android-app://com.google.android.gm/", ("gmail", "email")),
        (
            "android-app://com.google.android.googlequicksearchbox/https/www.google.com",
            ("google", "organic"),
        ),
        ("android-app://com.facebook.katana", ("facebook", "social")),
        ("android-app://org.example.reader", ("org.example.reader", "referral")),
    ],
)
def test_android_app_referrers_are_named_by_their_package(
    referrer: str, expected: tuple[str, str]
) -> None:
    found = source_of(SHOP, referrer)

    assert (found.source, found.medium) == expected


def test_an_android_app_referrer_is_not_read_as_a_host() -> None:
    assert parse_referrer("android-app://com.google.android.gm") == Referrer(
        app="com.google.android.gm"
    )


@pytest.mark.parametrize(
    ("location", "referrer"),
    [
        ("https://shop.example/a", "https://www.shop.example/b"),
        ("https://www.shop.example/a", "https://shop.example/b"),
        ("https://www.shop.example/a", "https://www.shop.example/b"),
    ],
)
def test_a_leading_www_does_not_make_the_own_site_a_referral(
    location: str, referrer: str
) -> None:
    found = source_of(location, referrer)

    assert (found.source, found.medium) == ("(internal)", "(none)")


def test_another_subdomain_of_the_own_site_is_a_referral() -> None:
    found = source_of("https://shop.example/a", "https://blog.shop.example/b")

    assert (found.source, found.medium) == ("blog.shop.example", "referral")


def test_utm_tags_win_and_name_the_campaign() -> None:
    found = source_of(
        SHOP + "?utm_source=google&utm_medium=cpc&utm_campaign=spring&gclid=x",
        "https://www.bing.com/",
    )

    assert found == Source("google", "cpc", "spring")


def test_a_page_is_split_with_its_tags() -> None:
    page = parse_page(
        "https://shop.example/p?utm_source=a&UTM_TERM=b&srsltid=c&other=d"
    )

    assert (page.hostname, page.path) == ("shop.example", "/p")
    assert page.query == "utm_source=a&UTM_TERM=b&srsltid=c&other=d"
    assert page.tags == {"utm_source": "a", "utm_term": "b", "srsltid": "c"}


def test_a_bare_path_has_no_hostname() -> None:
    page = parse_page("/products/shoes?ref=1")

    assert (page.hostname, page.path, page.query) == ("", "/products/shoes", "ref=1")


def test_an_unparseable_url_keeps_only_its_location() -> None:
    assert parse_page("http://[::1").hostname == ""
