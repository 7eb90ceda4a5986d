"""The languages the product speaks (``settings.LANGUAGES``; docs/i18n.md): which codes
are ours, the fallback for any other, and the check of a ``?language=`` parameter."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
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
