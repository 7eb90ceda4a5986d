"""Plain validators, property-tested: MAC notations and time zones."""

import zoneinfo

import pytest
from django.core.exceptions import ValidationError
from hypothesis import given
from hypothesis import strategies as st

from wlm.lib.validators import normalize_mac, validate_time_zone

octets = st.lists(st.integers(0, 255), min_size=6, max_size=6)


def notations(values: list[int]) -> list[str]:
    hexes = [f"{v:02x}" for v in values]
    joined = "".join(hexes)
    return [
        joined,
        joined.upper(),
        ":".join(hexes),
        "-".join(hexes).upper(),
        ".".join(joined[i : i + 4] for i in range(0, 12, 4)),
        f"  {':'.join(hexes)}  ",
    ]


@given(octets)
def test_every_notation_of_a_mac_normalises_to_the_same_value(values):
    expected = ":".join(f"{v:02X}" for v in values)
    assert {normalize_mac(text) for text in notations(values)} == {expected}


@given(st.text(max_size=30))
def test_normalize_mac_accepts_only_48_bit_hex(text):
    try:
        result = normalize_mac(text)
    except ValidationError:
        return
    assert len(result) == 17
    assert int(result.replace(":", ""), 16) < 2**48


@pytest.mark.parametrize("name", ["Europe/Madrid", "Pacific/Auckland", "UTC", "Asia/Kolkata"])
def test_known_time_zones_accepted(name):
    validate_time_zone(name)
    zoneinfo.ZoneInfo(name)


@pytest.mark.parametrize("name", ["", "Mars/Base", "europe/madrid", "GMT+2", "../etc/passwd"])
def test_unknown_time_zones_refused(name):
    with pytest.raises(ValidationError):
        validate_time_zone(name)
