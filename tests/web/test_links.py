"""The registration country of an ICAO 24-bit address, and the links out of a flight page."""

from __future__ import annotations

import itertools
from datetime import date

import pytest

from oddflights.web.links import BLOCKS, flight_links, registration_country


@pytest.mark.parametrize(
    ("icao24", "country"),
    [
        ("3c6444", "Germany"),  # D-AIBD, a Lufthansa A319
        ("3fffff", "Germany"),  # the last address of Germany's block
        ("400000", "United Kingdom"),
        ("43ffff", "United Kingdom"),
        ("440000", "Austria"),  # just past the UK's block
        ("484506", "Netherlands"),  # PH-BXA, a KLM 737
        ("487fff", "Netherlands"),
        ("488000", "Poland"),
        ("a0f1bb", "United States"),
        ("AFFFFF", "United States"),
        ("C00001", "Canada"),
        ("7c4921", "Australia"),
        ("780a3c", "China"),
        ("4b1805", "Switzerland"),
        ("4ca7b4", "Ireland"),
        ("4cafff", "Ireland"),
        ("100000", "Russia"),
        ("e48e3a", "Brazil"),
        ("501c00", "Croatia"),
        ("502bff", None),  # between Croatia's and Latvia's 1K blocks
        ("000000", None),
        ("0043ff", "Zimbabwe"),
        ("004400", None),
        ("b00000", None),  # reserved for future use
        ("ffffff", None),
        ("~4ca7b4", "Ireland"),  # tar1090's mark for a non-ICAO address
        ("xyz", None),
        ("1234567", None),
        (0x3C6444, "Germany"),
    ],
)
def test_registration_country_of_known_addresses(icao24: str | int, country: str | None) -> None:
    assert registration_country(icao24) == country


def test_blocks_are_ordered_aligned_and_disjoint() -> None:
    for (start, size, state), (nxt, _, _) in itertools.pairwise(BLOCKS):
        assert start + size <= nxt, state
    for start, size, state in BLOCKS:
        assert size & (size - 1) == 0 and start % size == 0, state  # a power-of-two block


def test_links_carry_the_address_and_day(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ODDFLIGHTS_TAR1090_URL", raising=False)
    links = flight_links("4CA7B4", date(2026, 5, 4))
    assert [link["title"] for link in links] == ["ADS-B Exchange", "OpenSky"]
    assert links[0]["href"] == "https://globe.adsbexchange.com/?icao=4ca7b4&showTrace=2026-05-04"
    assert links[1]["href"].endswith("icao24=4ca7b4")
    monkeypatch.setenv("ODDFLIGHTS_TAR1090_URL", "http://pi.local/tar1090/?hideSidebar")
    own = flight_links("4ca7b4", date(2026, 5, 4))[0]
    assert own == {
        "title": "your tar1090",
        "href": "http://pi.local/tar1090/?hideSidebar&icao=4ca7b4&showTrace=2026-05-04",
    }
