"""The English country names GA4 shows, by ISO 3166-1 alpha-2 code.

The pipeline stores a code in ``geo_country`` (the geo database's, or the
Measurement Protocol's ``user_location.country_id``); GA4's Data API answers
``country`` with a name and ``countryId`` with the code. :data:`COUNTRY_NAMES`
maps one to the other.

The codes and most names come from pycountry rather than a table written
here: it carries the ISO 3166-1 list that Debian's iso-codes project keeps,
and its releases follow new codes and renamings (Türkiye, North Macedonia,
Eswatini) that a copied table would miss. Its ``common_name`` is already the
short name GA4 uses where the ISO name is long ("Iran, Islamic Republic of"
-> "Iran"). GA4 shows Google's short English names, CLDR's, which differ from
both for a few countries; those are overridden below.
"""

from __future__ import annotations

import pycountry

# Where GA4's name differs from pycountry's common_name (or name): CLDR's
# English short names, which GA4 reports and its BigQuery export show.
_GA4_NAMES = {
    "AG": "Antigua & Barbuda",
    "BA": "Bosnia & Herzegovina",
    "BL": "St. Barthélemy",
    "BN": "Brunei",
    "BQ": "Caribbean Netherlands",
    "CD": "Congo - Kinshasa",
    "CG": "Congo - Brazzaville",
    "CI": "Côte d\u2019Ivoire",  # a typographic apostrophe, as CLDR writes it
    "CV": "Cape Verde",
    "FK": "Falkland Islands (Islas Malvinas)",
    "FM": "Micronesia",
    "GS": "South Georgia & South Sandwich Islands",
    "HM": "Heard & McDonald Islands",
    "KN": "St. Kitts & Nevis",
    "LC": "St. Lucia",
    "MF": "St. Martin",
    "MM": "Myanmar (Burma)",
    "PM": "St. Pierre & Miquelon",
    "PS": "Palestine",
    "RU": "Russia",
    "SH": "St. Helena",
    "SJ": "Svalbard & Jan Mayen",
    "ST": "São Tomé & Príncipe",
    "SX": "Sint Maarten",
    "TC": "Turks & Caicos Islands",
    "TT": "Trinidad & Tobago",
    "UM": "U.S. Outlying Islands",
    "VA": "Vatican City",
    "VC": "St. Vincent & Grenadines",
    "VG": "British Virgin Islands",
    "VI": "U.S. Virgin Islands",
    "WF": "Wallis & Futuna",
    # Not in ISO 3166-1, but the code MaxMind's databases give Kosovo.
    "XK": "Kosovo",
}


def _country_names() -> dict[str, str]:
    names = {
        country.alpha_2: getattr(country, "common_name", country.name)
        for country in pycountry.countries
    }
    return names | _GA4_NAMES


COUNTRY_NAMES: dict[str, str] = _country_names()
