"""The languages the product speaks (``settings.LANGUAGES``; docs/i18n.md): which codes
are ours, the fallback for any other, and the check of a ``?language=`` parameter."""

from __future__ import annotations

import os
from collections.abc import Mapping

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import translation
from django.utils.translation import gettext

CODES = frozenset(code for code, _name in settings.LANGUAGES)
DEFAULT = "en"


def supported(code: str | None) -> str:
    """``code`` if it is one of ours, else English."""
    return code if code in CODES else DEFAULT


def asked(value: str | None) -> str | None:
    """A ``?language=`` parameter: None when absent, the code when it is one of ours,
    a ValidationError naming the choices otherwise."""
    if not value:
        return None
    if value not in CODES:
        choices = ", ".join(sorted(CODES))
        raise ValidationError(
            {"language": [gettext("Choose one of: %(codes)s.") % {"codes": choices}]}
        )
    return value


def of_operator(environ: Mapping[str, str] = os.environ) -> str:
    """The language of the person at a terminal, as POSIX tools choose it: the first of
    ``LANGUAGE`` (a colon list), ``LC_ALL``, ``LC_MESSAGES``, ``LANG`` that is set, read as
    ``es_ES.UTF-8`` → ``es``; ours or English (``C`` and ``POSIX`` are English)."""
    for name in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = environ.get(name, "")
        for entry in value.split(":") if name == "LANGUAGE" else [value]:
            code = entry.split(".")[0].split("@")[0].split("_")[0].lower()
            if code:
                return supported(code)
    return DEFAULT


class OperatorLanguage:
    """A management command's mixin: its help and its output in the operator's language
    (``of_operator``), not the product's default."""

    def run_from_argv(self, argv):
        with translation.override(of_operator()):
            return super().run_from_argv(argv)

    def execute(self, *args, **options):
        with translation.override(of_operator()):
            return super().execute(*args, **options)
