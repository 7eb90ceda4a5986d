"""Form widgets of the pages (docs/i18n.md, "Dates and times")."""

from django import forms
from django.utils.translation import gettext_lazy as _


class LocalDateInput(forms.DateInput):
    """A date typed as the reader's language writes it: ``dd/mm/yyyy`` in Spanish, ISO
    8601 in English (the first of the active language's ``DATE_INPUT_FORMATS``, which also
    parse it; ISO is read in both). A text field rather than the browser's date picker,
    which shows the browser's own locale whatever the page's language."""

    input_type = "text"

    def __init__(self, attrs=None):
        defaults = {
            "placeholder": _("yyyy-mm-dd"),
            "inputmode": "numeric",
            "autocomplete": "off",
            "size": 10,
        }
        super().__init__(attrs={**defaults, **(attrs or {})})


class TrueCheckbox(forms.CheckboxInput):
    """A yes-or-no filter (``name=true``) as one checkbox: checked, the form sends
    ``true``; unchecked, nothing (the filter is off, not ``false``). The filter's field
    reads the query string's text as the API does, so ``?near_limit=true`` in a
    bookmarked URL shows the box checked."""

    def __init__(self, attrs=None):
        super().__init__(attrs=attrs, check_test=lambda value: str(value).lower() == "true")

    def format_value(self, value):
        return "true"

    def value_from_datadict(self, data, files, name):
        return data.get(name)

    def value_omitted_from_data(self, data, files, name):
        return name not in data
