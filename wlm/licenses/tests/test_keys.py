"""License keys (DESIGN §3): generation, and normalisation of what users type."""

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wlm.licenses import keys
from wlm.licenses.keys import (
    ALPHABET,
    KEY_PATTERN,
    InvalidKey,
    generate_key,
    normalize_key,
)

CANONICAL = re.compile(KEY_PATTERN)

canonical_keys = st.text(alphabet=ALPHABET, min_size=25, max_size=25).map(
    lambda s: "-".join(s[i : i + 5] for i in range(0, 25, 5))
)
separators = st.text(alphabet=" -\t\n\u00a0\u2010\u2013", max_size=1)


@st.composite
def typed_variants(draw, key: str) -> str:
    """``key`` as a person might type it: any case, I/L for 1, O for 0, any spacing."""
    out = [draw(st.text(alphabet=" \t\n", max_size=3))]
    for symbol in key.replace("-", ""):
        if symbol == "1":
            symbol = draw(st.sampled_from("1IiLl"))
        elif symbol == "0":
            symbol = draw(st.sampled_from("0Oo"))
        elif draw(st.booleans()):
            symbol = symbol.lower()
        out += [symbol, draw(separators)]
    out.append(draw(st.text(alphabet=" \t\n", max_size=3)))
    return "".join(out)


def test_generated_keys_are_distinct_and_use_only_the_alphabet():
    generated = [generate_key() for _ in range(10_000)]
    assert len(set(generated)) == len(generated)
    assert all(CANONICAL.fullmatch(key) for key in generated)
    assert set("".join(generated).replace("-", "")) <= set(ALPHABET)


def test_generated_keys_normalise_to_themselves():
    for _ in range(1_000):
        key = generate_key()
        assert normalize_key(key) == key


def test_generate_key_spells_all_125_random_bits(monkeypatch):
    monkeypatch.setattr(keys.secrets, "randbits", lambda bits: 0)
    assert generate_key() == "00000-00000-00000-00000-00000"
    monkeypatch.setattr(keys.secrets, "randbits", lambda bits: 2**bits - 1)
    assert generate_key() == "ZZZZZ-ZZZZZ-ZZZZZ-ZZZZZ-ZZZZZ"
    monkeypatch.setattr(keys.secrets, "randbits", lambda bits: 1 << (bits - 1))
    assert generate_key() == "G0000-00000-00000-00000-00000"


@given(canonical_keys)
def test_canonical_keys_normalise_to_themselves(key):
    assert normalize_key(key) == key
    assert normalize_key(key.replace("-", "")) == key


@given(canonical_keys.flatmap(lambda key: st.tuples(st.just(key), typed_variants(key))))
def test_every_typed_variant_of_a_key_normalises_to_the_key(pair):
    key, typed = pair
    assert normalize_key(typed) == key


@settings(max_examples=300)
@given(st.text() | st.text(alphabet=ALPHABET + "ilouILOU -\t\x00", min_size=20, max_size=40))
def test_normalize_key_returns_a_key_or_raises_invalid_key(text):
    try:
        result = normalize_key(text)
    except InvalidKey:
        return
    assert CANONICAL.fullmatch(result)
    assert normalize_key(result) == result


@pytest.mark.parametrize(
    "text",
    [
        "",
        "\x00" * 25,
        "ABCDE-FGHJK-MNPQR-STVWX-YZ01\x00",
        "ABCDE-FGHJK-MNPQR-STVWX-YZ01U",  # U is not in the alphabet
        "ABCDE-FGHJK-MNPQR-STVWX-YZ01",  # 24 symbols
        "ABCDE-FGHJK-MNPQR-STVWX-YZ0123",  # 26 symbols
        "ABCDE-FGHJK-MNPQR-STVWX-YZ01🙂",
        "ABCDE-FGHJK-MNPQR-STVWX-YZ01\u0131",  # dotless i (U+0131) upper-cases to "I"
        "ABCDE-FGHJK-MNPQR-STVWX-YZ01\uff11",  # fullwidth digit one
        "ABCDE-FGHJK-MNPQR-STVWX-\ufb00ZZZ",  # U+FB00 upper-cases to "FF"
        "A" * 1_000_000,
        " " * 90 + "ABCDE-FGHJK-MNPQR-STVWX-YZ012",  # over the input cap
    ],
)
def test_normalize_key_refuses_anything_but_25_symbols(text):
    with pytest.raises(InvalidKey):
        normalize_key(text)


def test_normalize_key_reads_confusable_letters_as_digits():
    assert normalize_key(" abcde fghjk mnpqr stvwx yzilo ") == "ABCDE-FGHJK-MNPQR-STVWX-YZ110"


def test_invalid_key_is_a_value_error_with_a_message():
    with pytest.raises(ValueError, match="license key") as info:
        normalize_key("nope")
    assert info.value.code == "invalid_key"
