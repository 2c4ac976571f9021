"""Where else to look at a flight: links out (only links; nothing is fetched) and the
registration country that an aircraft's ICAO 24-bit address block says.

The blocks are the State allocations of ICAO Annex 10, Volume III, Part I, Chapter 9
(appendix table). Each State's block is a power-of-two size: 1,024 (``K1``), 4,096 (``K4``),
32,768 (``K32``), 262,144 (``K256``) or 1,048,576 addresses (Russia). Territories inside a
State's block (e.g. Bermuda in the UK's) are the State's own sub-allocations, not ICAO's:
they are named as the State.
"""

from __future__ import annotations

import bisect
from datetime import date
from urllib.parse import urlencode, urlsplit, urlunsplit

from oddflights import config

K1, K4, K32, K256 = 0x400, 0x1000, 0x8000, 0x40000

# (first address, size, State), in address order.
BLOCKS: tuple[tuple[int, int, str], ...] = (
    (0x004000, K1, "Zimbabwe"),
    (0x006000, K4, "Mozambique"),
    (0x008000, K32, "South Africa"),
    (0x010000, K32, "Egypt"),
    (0x018000, K32, "Libya"),
    (0x020000, K32, "Morocco"),
    (0x028000, K32, "Tunisia"),
    (0x030000, K1, "Botswana"),
    (0x032000, K4, "Burundi"),
    (0x034000, K4, "Cameroon"),
    (0x035000, K1, "Comoros"),
    (0x036000, K4, "Congo"),
    (0x038000, K4, "Côte d'Ivoire"),
    (0x03E000, K4, "Gabon"),
    (0x040000, K4, "Ethiopia"),
    (0x042000, K4, "Equatorial Guinea"),
    (0x044000, K4, "Ghana"),
    (0x046000, K4, "Guinea"),
    (0x048000, K1, "Guinea-Bissau"),
    (0x04A000, K1, "Lesotho"),
    (0x04C000, K4, "Kenya"),
    (0x050000, K4, "Liberia"),
    (0x054000, K4, "Madagascar"),
    (0x058000, K4, "Malawi"),
    (0x05A000, K1, "Maldives"),
    (0x05C000, K4, "Mali"),
    (0x05E000, K1, "Mauritania"),
    (0x060000, K1, "Mauritius"),
    (0x062000, K4, "Niger"),
    (0x064000, K4, "Nigeria"),
    (0x068000, K4, "Uganda"),
    (0x06A000, K1, "Qatar"),
    (0x06C000, K4, "Central African Republic"),
    (0x06E000, K4, "Rwanda"),
    (0x070000, K4, "Senegal"),
    (0x074000, K1, "Seychelles"),
    (0x076000, K1, "Sierra Leone"),
    (0x078000, K4, "Somalia"),
    (0x07A000, K1, "Eswatini"),
    (0x07C000, K4, "Sudan"),
    (0x080000, K4, "Tanzania"),
    (0x084000, K4, "Chad"),
    (0x088000, K4, "Togo"),
    (0x08A000, K4, "Zambia"),
    (0x08C000, K4, "DR Congo"),
    (0x090000, K4, "Angola"),
    (0x094000, K1, "Benin"),
    (0x096000, K1, "Cabo Verde"),
    (0x098000, K1, "Djibouti"),
    (0x09A000, K4, "Gambia"),
    (0x09C000, K4, "Burkina Faso"),
    (0x09E000, K1, "São Tomé and Príncipe"),
    (0x0A0000, K32, "Algeria"),
    (0x0A8000, K4, "Bahamas"),
    (0x0AA000, K1, "Barbados"),
    (0x0AB000, K1, "Belize"),
    (0x0AC000, K4, "Colombia"),
    (0x0AE000, K4, "Costa Rica"),
    (0x0B0000, K4, "Cuba"),
    (0x0B2000, K4, "El Salvador"),
    (0x0B4000, K4, "Guatemala"),
    (0x0B6000, K4, "Guyana"),
    (0x0B8000, K4, "Haiti"),
    (0x0BA000, K4, "Honduras"),
    (0x0BC000, K1, "Saint Vincent and the Grenadines"),
    (0x0BE000, K4, "Jamaica"),
    (0x0C0000, K4, "Nicaragua"),
    (0x0C2000, K4, "Panama"),
    (0x0C4000, K4, "Dominican Republic"),
    (0x0C6000, K4, "Trinidad and Tobago"),
    (0x0C8000, K4, "Suriname"),
    (0x0CA000, K1, "Antigua and Barbuda"),
    (0x0CC000, K1, "Grenada"),
    (0x0D0000, K32, "Mexico"),
    (0x0D8000, K32, "Venezuela"),
    (0x100000, 0x100000, "Russia"),
    (0x201000, K1, "Namibia"),
    (0x202000, K1, "Eritrea"),
    (0x300000, K256, "Italy"),
    (0x340000, K256, "Spain"),
    (0x380000, K256, "France"),
    (0x3C0000, K256, "Germany"),
    (0x400000, K256, "United Kingdom"),
    (0x440000, K32, "Austria"),
    (0x448000, K32, "Belgium"),
    (0x450000, K32, "Bulgaria"),
    (0x458000, K32, "Denmark"),
    (0x460000, K32, "Finland"),
    (0x468000, K32, "Greece"),
    (0x470000, K32, "Hungary"),
    (0x478000, K32, "Norway"),
    (0x480000, K32, "Netherlands"),
    (0x488000, K32, "Poland"),
    (0x490000, K32, "Portugal"),
    (0x498000, K32, "Czechia"),
    (0x4A0000, K32, "Romania"),
    (0x4A8000, K32, "Sweden"),
    (0x4B0000, K32, "Switzerland"),
    (0x4B8000, K32, "Türkiye"),
    (0x4C0000, K32, "Serbia"),
    (0x4C8000, K1, "Cyprus"),
    (0x4CA000, K4, "Ireland"),
    (0x4CC000, K4, "Iceland"),
    (0x4D0000, K1, "Luxembourg"),
    (0x4D2000, K1, "Malta"),
    (0x4D4000, K1, "Monaco"),
    (0x500000, K1, "San Marino"),
    (0x501000, K1, "Albania"),
    (0x501C00, K1, "Croatia"),
    (0x502C00, K1, "Latvia"),
    (0x503C00, K1, "Lithuania"),
    (0x504C00, K1, "Moldova"),
    (0x505C00, K1, "Slovakia"),
    (0x506C00, K1, "Slovenia"),
    (0x507C00, K1, "Uzbekistan"),
    (0x508000, K32, "Ukraine"),
    (0x510000, K1, "Belarus"),
    (0x511000, K1, "Estonia"),
    (0x512000, K1, "North Macedonia"),
    (0x513000, K1, "Bosnia and Herzegovina"),
    (0x514000, K1, "Georgia"),
    (0x515000, K1, "Tajikistan"),
    (0x516000, K1, "Montenegro"),
    (0x600000, K1, "Armenia"),
    (0x600800, K1, "Azerbaijan"),
    (0x601000, K1, "Kyrgyzstan"),
    (0x601800, K1, "Turkmenistan"),
    (0x680000, K1, "Bhutan"),
    (0x681000, K1, "Micronesia"),
    (0x682000, K1, "Mongolia"),
    (0x683000, K1, "Kazakhstan"),
    (0x684000, K1, "Palau"),
    (0x700000, K4, "Afghanistan"),
    (0x702000, K4, "Bangladesh"),
    (0x704000, K4, "Myanmar"),
    (0x706000, K4, "Kuwait"),
    (0x708000, K4, "Laos"),
    (0x70A000, K4, "Nepal"),
    (0x70C000, K1, "Oman"),
    (0x70E000, K4, "Cambodia"),
    (0x710000, K32, "Saudi Arabia"),
    (0x718000, K32, "South Korea"),
    (0x720000, K32, "North Korea"),
    (0x728000, K32, "Iraq"),
    (0x730000, K32, "Iran"),
    (0x738000, K32, "Israel"),
    (0x740000, K32, "Jordan"),
    (0x748000, K32, "Lebanon"),
    (0x750000, K32, "Malaysia"),
    (0x758000, K32, "Philippines"),
    (0x760000, K32, "Pakistan"),
    (0x768000, K32, "Singapore"),
    (0x770000, K32, "Sri Lanka"),
    (0x778000, K32, "Syria"),
    (0x780000, K256, "China"),
    (0x7C0000, K256, "Australia"),
    (0x800000, K256, "India"),
    (0x840000, K256, "Japan"),
    (0x880000, K32, "Thailand"),
    (0x888000, K32, "Viet Nam"),
    (0x890000, K4, "Yemen"),
    (0x894000, K4, "Bahrain"),
    (0x895000, K1, "Brunei"),
    (0x896000, K4, "United Arab Emirates"),
    (0x897000, K1, "Solomon Islands"),
    (0x898000, K4, "Papua New Guinea"),
    (0x899000, K1, "Taiwan"),
    (0x8A0000, K32, "Indonesia"),
    (0x900000, K1, "Marshall Islands"),
    (0x901000, K1, "Cook Islands"),
    (0x902000, K1, "Samoa"),
    (0xA00000, 0x100000, "United States"),
    (0xC00000, K256, "Canada"),
    (0xC80000, K32, "New Zealand"),
    (0xC88000, K4, "Fiji"),
    (0xC8A000, K1, "Nauru"),
    (0xC8C000, K1, "Saint Lucia"),
    (0xC8D000, K1, "Tonga"),
    (0xC8E000, K1, "Kiribati"),
    (0xC90000, K1, "Vanuatu"),
    (0xE00000, K256, "Argentina"),
    (0xE40000, K256, "Brazil"),
    (0xE80000, K4, "Chile"),
    (0xE84000, K4, "Ecuador"),
    (0xE88000, K4, "Paraguay"),
    (0xE8C000, K4, "Peru"),
    (0xE90000, K4, "Uruguay"),
    (0xE94000, K4, "Bolivia"),
    (0xF00000, K32, "ICAO (temporary addresses)"),
    (0xF09000, K1, "ICAO (special use)"),
)
_STARTS = [b[0] for b in BLOCKS]


def registration_country(icao24: str | int) -> str | None:
    """The State whose ICAO address block holds ``icao24`` (hex text or a number); None for
    an address in no State's block (unallocated, or not a 24-bit hex address)."""
    if isinstance(icao24, str):
        text = icao24.strip().lstrip("~")  # tar1090 marks non-ICAO (TIS-B) addresses with ~
        if not 1 <= len(text) <= 6 or any(c not in "0123456789abcdefABCDEF" for c in text):
            return None
        address = int(text, 16)
    else:
        address = int(icao24)
    i = bisect.bisect_right(_STARTS, address) - 1
    if i < 0:
        return None
    start, size, state = BLOCKS[i]
    return state if address < start + size else None


def _with_query(base: str, params: dict[str, str]) -> str:
    parts = urlsplit(base)
    query = "&".join(q for q in (parts.query, urlencode(params)) if q)
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", query, parts.fragment))


def flight_links(icao24: str, day: date) -> list[dict[str, str]]:
    """Links to the aircraft's track that day elsewhere (title, href): the user's own tar1090
    (setting ``tar1090_url``, when set), ADS-B Exchange's globe, and OpenSky's aircraft page."""
    hexid = icao24.strip().lower()
    params = {"icao": hexid, "showTrace": day.isoformat()}
    out = []
    own = str(config.get("tar1090_url")).strip()
    if own:
        out.append({"title": "your tar1090", "href": _with_query(own, params)})
    out.append(
        {"title": "ADS-B Exchange", "href": _with_query("https://globe.adsbexchange.com/", params)}
    )
    out.append(
        {
            "title": "OpenSky",
            "href": f"https://opensky-network.org/aircraft-profile?icao24={hexid}",
        }
    )
    return out
