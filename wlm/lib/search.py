"""Search that ignores accents and case (docs/i18n.md, "Search"): "Malaga" finds "Málaga",
"pena" finds "PEÑA", on SQLite and PostgreSQL alike.

Both sides of a ``q`` comparison go through one SQL function, ``wlm_fold(text)``: the text
without its accents, in capitals.

- PostgreSQL: ``upper(unaccent(text))`` behind an IMMUTABLE wrapper (``unaccent`` itself is
  only STABLE, so it cannot be indexed), made by the migration ``tenancy 0007``; the names
  searched on large tables have a trigram index on ``wlm_fold(name)``, which the planner
  uses because the folded search term is a constant by the time it plans.
- SQLite: the same function in Python (``fold``), registered on every connection as a
  deterministic function (``register``, from ``connection_created``).

License keys are capital letters and digits already: they keep ``icontains`` and their
own trigram index.
"""

from __future__ import annotations

import unicodedata

from django.db.models import CharField, Func, Value
from django.db.models.lookups import Contains

FUNCTION = "wlm_fold"
# letters unaccent spells out and Unicode does not decompose
_SPELLED = str.maketrans({"æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "ø": "o", "Ø": "O",
                          "ł": "l", "Ł": "L", "đ": "d", "Đ": "D", "ß": "ss", "þ": "th",
                          "Þ": "TH", "ð": "d", "Ð": "D"})  # fmt: skip


def fold(text: str | None) -> str | None:
    """``text`` without accents, in capitals (PostgreSQL's ``upper(unaccent(text))``)."""
    if text is None:
        return None
    decomposed = unicodedata.normalize("NFKD", text.translate(_SPELLED))
    return "".join(char for char in decomposed if not unicodedata.combining(char)).upper()


class Fold(Func):
    """``wlm_fold(expression)``."""

    function = FUNCTION
    output_field = CharField()


def folded_contains(path: str, term: str) -> Contains:
    """``path`` contains ``term``, accents and case aside: a lookup ``filter()`` takes."""
    return Contains(Fold(path), Fold(Value(term)))


def register(sender, connection, **kwargs) -> None:
    """``connection_created``: SQLite learns ``wlm_fold`` (PostgreSQL has it from its
    migration)."""
    if connection.vendor == "sqlite":
        connection.connection.create_function(FUNCTION, 1, fold, deterministic=True)


# the function of PostgreSQL's migration (tenancy 0007)
POSTGRESQL_FUNCTION = f"""
CREATE EXTENSION IF NOT EXISTS unaccent;
CREATE OR REPLACE FUNCTION {FUNCTION}(text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT upper(public.unaccent('public.unaccent'::regdictionary, $1)) $$;
"""
