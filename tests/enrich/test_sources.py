"""Traffic sources from referrers and campaign tags, by the rule table."""

from __future__ import annotations

import pytest

from ga4clone.enrich.pages import parse_page, referrer_host
from ga4clone.enrich.sources import Source, classify

SHOP = "https://shop.example/products/shoes"


def source_of(location: str, referrer: str) -> Source:
    page = parse_page(location)
    return classify(page.tags, referrer_host(referrer), page.hostname)


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
