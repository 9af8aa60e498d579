"""The rule table that names a referrer's source and medium.

:data:`DOMAINS` maps a hostname (or a parent domain of it) to the source name
and medium GA4 would report. Hosts are matched from the most specific suffix
up, so ``mail.google.com`` (email) wins over the search engine rule for
Google. Search engines with many country domains (google.de, google.co.uk)
are matched by :data:`SEARCH_BRANDS`: the brand label, followed by nothing but
a country or ``com`` suffix (see ``sources.py``). :data:`APPS` names the
Android apps a referrer can be. See docs/enrichment.md for the order in which
the rules apply.
"""

from __future__ import annotations

ORGANIC = "organic"
SOCIAL = "social"
EMAIL = "email"

# hostname or parent domain -> (source, medium)
DOMAINS: dict[str, tuple[str, str]] = {
    # Webmail clients.
    "mail.google.com": ("gmail", EMAIL),
    "inbox.google.com": ("gmail", EMAIL),
    "outlook.live.com": ("outlook", EMAIL),
    "outlook.office.com": ("outlook", EMAIL),
    "outlook.office365.com": ("outlook", EMAIL),
    "mail.yahoo.com": ("yahoo mail", EMAIL),
    "mail.proton.me": ("proton mail", EMAIL),
    "mail.aol.com": ("aol mail", EMAIL),
    "mail.yandex.ru": ("yandex mail", EMAIL),
    "e.mail.ru": ("mail.ru", EMAIL),
    # Social networks, their link shorteners and redirectors.
    "facebook.com": ("facebook", SOCIAL),
    "fb.me": ("facebook", SOCIAL),
    "instagram.com": ("instagram", SOCIAL),
    "t.co": ("twitter", SOCIAL),
    "twitter.com": ("twitter", SOCIAL),
    "x.com": ("twitter", SOCIAL),
    "linkedin.com": ("linkedin", SOCIAL),
    "lnkd.in": ("linkedin", SOCIAL),
    "reddit.com": ("reddit", SOCIAL),
    "pinterest.com": ("pinterest", SOCIAL),
    "youtube.com": ("youtube", SOCIAL),
    "tiktok.com": ("tiktok", SOCIAL),
    "threads.net": ("threads", SOCIAL),
    "bsky.app": ("bluesky", SOCIAL),
    "mastodon.social": ("mastodon", SOCIAL),
    "news.ycombinator.com": ("hacker news", SOCIAL),
    "vk.com": ("vk", SOCIAL),
    "weibo.com": ("weibo", SOCIAL),
    "quora.com": ("quora", SOCIAL),
    "tumblr.com": ("tumblr", SOCIAL),
    "snapchat.com": ("snapchat", SOCIAL),
    "whatsapp.com": ("whatsapp", SOCIAL),
    "telegram.org": ("telegram", SOCIAL),
    "t.me": ("telegram", SOCIAL),
    "discord.com": ("discord", SOCIAL),
    # Search engines under a single domain.
    "duckduckgo.com": ("duckduckgo", ORGANIC),
    "search.brave.com": ("brave", ORGANIC),
    "ecosia.org": ("ecosia", ORGANIC),
    "startpage.com": ("startpage", ORGANIC),
    "qwant.com": ("qwant", ORGANIC),
    "search.yahoo.com": ("yahoo", ORGANIC),
    "baidu.com": ("baidu", ORGANIC),
    "naver.com": ("naver", ORGANIC),
    "seznam.cz": ("seznam", ORGANIC),
    "kagi.com": ("kagi", ORGANIC),
    "perplexity.ai": ("perplexity", ORGANIC),
}

# Brand label of a search engine's many country domains -> source.
SEARCH_BRANDS: dict[str, str] = {
    "google": "google",
    "bing": "bing",
    "yahoo": "yahoo",
    "yandex": "yandex",
}

# Android package (an android-app:// referrer) -> (source, medium). Any
# other app is a referral named by its package.
APPS: dict[str, tuple[str, str]] = {
    "com.google.android.gm": ("gmail", EMAIL),
    "com.microsoft.office.outlook": ("outlook", EMAIL),
    "com.yahoo.mobile.client.android.mail": ("yahoo mail", EMAIL),
    "com.google.android.googlequicksearchbox": ("google", ORGANIC),
    "com.facebook.katana": ("facebook", SOCIAL),
    "com.facebook.orca": ("facebook", SOCIAL),
    "com.instagram.android": ("instagram", SOCIAL),
    "com.twitter.android": ("twitter", SOCIAL),
    "com.linkedin.android": ("linkedin", SOCIAL),
    "com.reddit.frontpage": ("reddit", SOCIAL),
    "com.pinterest": ("pinterest", SOCIAL),
    "com.google.android.youtube": ("youtube", SOCIAL),
    "com.whatsapp": ("whatsapp", SOCIAL),
    "org.telegram.messenger": ("telegram", SOCIAL),
}

# Click id -> (source, medium) when the URL carries no UTM source. An fbclid
# is added to every outbound Facebook link, paid or not, so it says social.
CLICK_IDS: dict[str, tuple[str, str]] = {
    "gclid": ("google", "cpc"),
    "wbraid": ("google", "cpc"),
    "gbraid": ("google", "cpc"),
    "dclid": ("dv360", "cpm"),
    "srsltid": ("google", "organic"),
    "msclkid": ("bing", "cpc"),
    "fbclid": ("facebook", SOCIAL),
}
