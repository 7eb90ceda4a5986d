"""What the tests read from the Spanish catalogue (docs/i18n.md)."""

from django.utils import translation


def spanish(text: str) -> str:
    """``text``'s Spanish translation, as the catalogue says (and a check that it says
    something else than the English)."""
    with translation.override("es"):
        translated = str(translation.gettext(text))
    assert translated != text, f"no Spanish for {text!r}"
    return translated
