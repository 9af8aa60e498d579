"""Continent and sub-continent names, the form GA4's export stores them in.

GA4's ``geo.continent`` and ``geo.sub_continent`` hold names ("Europe",
"Western Europe"), from the UN M49 regions. Two senders speak codes instead:
MaxMind databases name a continent by two letters (``EU``), and Measurement
Protocol senders give ``continent_id`` / ``subcontinent_id`` as M49 numbers
(``150``, ``155``). Both are turned into the names here, so one column holds
one form; a code this table does not know becomes empty.
"""

from __future__ import annotations

# UN M49 region code -> GA4's continent name.
CONTINENTS: dict[str, str] = {
    "002": "Africa",
    "019": "Americas",
    "142": "Asia",
    "150": "Europe",
    "009": "Oceania",
}

# MaxMind continent code -> GA4's continent name. M49 joins North and South
# America; Antarctica (AN) is in no M49 region, so it has no name here.
MAXMIND_CONTINENTS: dict[str, str] = {
    "AF": "Africa",
    "NA": "Americas",
    "SA": "Americas",
    "AS": "Asia",
    "EU": "Europe",
    "OC": "Oceania",
}

# UN M49 sub-region code -> GA4's sub-continent name (GA4 uses M49's
# intermediate regions for Africa and the Americas, and its own short names
# for a few, such as "Southeast Asia" and "Australasia").
SUB_CONTINENTS: dict[str, str] = {
    "015": "Northern Africa",
    "011": "Western Africa",
    "014": "Eastern Africa",
    "017": "Middle Africa",
    "018": "Southern Africa",
    "021": "Northern America",
    "013": "Central America",
    "029": "Caribbean",
    "005": "South America",
    "030": "Eastern Asia",
    "034": "Southern Asia",
    "035": "Southeast Asia",
    "143": "Central Asia",
    "145": "Western Asia",
    "151": "Eastern Europe",
    "154": "Northern Europe",
    "039": "Southern Europe",
    "155": "Western Europe",
    "053": "Australasia",
    "054": "Melanesia",
    "057": "Micronesian Region",
    "061": "Polynesia",
}


def continent_name(m49: str) -> str:
    """GA4's name of an M49 continent code; empty for an unknown code."""
    return CONTINENTS.get(m49, "")


def sub_continent_name(m49: str) -> str:
    """GA4's name of an M49 sub-region code; empty for an unknown code."""
    return SUB_CONTINENTS.get(m49, "")
