"""License keys (DESIGN §3): 25 symbols of Crockford base32, ``XXXXX-XXXXX-XXXXX-XXXXX-XXXXX``.

Keys are stored in the grouped canonical form that `generate_key` and `normalize_key`
return (upper case, hyphens between the five groups), so a lookup is an exact match on
``normalize_key(user_input)``. ``typed_symbols`` is what both it and the key filter of
the lists forgive in what people type.
"""

import secrets
import unicodedata

from django.utils.translation import gettext_lazy as _

# Crockford's base32: digits and letters without I, L, O (confusable) and U (obscenities).
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
SYMBOLS = 25
GROUP_SIZE = 5
RANDOM_BITS = SYMBOLS * 5  # 125 bits: 32 symbols carry 5 bits each
# The canonical (stored) form, for URL converters and database constraints.
KEY_PATTERN = r"[0-9A-HJKMNP-TV-Z]{5}(?:-[0-9A-HJKMNP-TV-Z]{5}){4}"

# Longer input is refused before any work: 25 symbols with generous spacing fit easily.
MAX_INPUT_LENGTH = 100
# Letters people type for the digits they look like.
_CONFUSABLES = str.maketrans({"I": "1", "L": "1", "O": "0"})
_VALID = frozenset(ALPHABET)


class InvalidKey(ValueError):
    """The text is not 25 symbols of the key alphabet, whatever its spacing or case."""

    code = "invalid_key"

    def __init__(self, message: object = None) -> None:
        super().__init__(message or _("Enter a license key such as XXXXX-XXXXX-XXXXX-XXXXX-XXXXX."))


def _group(symbols: str) -> str:
    return "-".join(symbols[i : i + GROUP_SIZE] for i in range(0, SYMBOLS, GROUP_SIZE))


def _encode(number: int) -> str:
    """The 25-symbol base32 spelling of a number below 2**125, most significant first."""
    return "".join(
        ALPHABET[(number >> shift) & 0b11111] for shift in range(RANDOM_BITS - 5, -1, -5)
    )


def generate_key() -> str:
    """A new key from 125 bits of `secrets`: unguessable, so keys can't be probed."""
    return _group(_encode(secrets.randbits(RANDOM_BITS)))


def _is_separator(char: str) -> bool:
    # Any whitespace and any dash (a key pasted from a PDF may carry U+2010 or an en dash).
    return char.isspace() or unicodedata.category(char) == "Pd"


def typed_symbols(text: str) -> str:
    """The symbols of (part of) a key as typed or pasted: whitespace and dashes dropped,
    upper case, ``I``/``L`` read as ``1`` and ``O`` as ``0``. Not checked against the
    alphabet; non-ASCII text comes back as it was, so it never matches."""
    symbols = "".join(char for char in text if not _is_separator(char))
    # ASCII only before upper(): dotless i (U+0131) upper-cases to "I", U+FB00 to "FF".
    if not symbols.isascii():
        return symbols
    return symbols.upper().translate(_CONFUSABLES)


def normalize_key(text: str) -> str:
    """The canonical grouped key for what a user typed or pasted (``typed_symbols``).

    Raises `InvalidKey` (and nothing else) unless 25 symbols of the alphabet remain.
    """
    if not isinstance(text, str) or len(text) > MAX_INPUT_LENGTH:
        raise InvalidKey
    symbols = typed_symbols(text)
    if len(symbols) != SYMBOLS or not _VALID.issuperset(symbols):
        raise InvalidKey
    return _group(symbols)
