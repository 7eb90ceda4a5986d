"""The licenses list's bulk bar and its confirmation: which action, with which
parameters, on which licenses (the checked rows, or all those matching the list's
filters, frozen through the list's FilterSet and the tenancy door). Types and the
selection are checked here; ``wlm.licenses.bulk`` decides and works."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.http import QueryDict
from django.utils.translation import gettext_lazy as _

from wlm.licenses import bulk
from wlm.licenses.filters import LicenseFilterSet
from wlm.licenses.forms.licenses import REASON_MAX
from wlm.licenses.models import BulkAction, License

EXPORT = "export"
ACTION_CHOICES = [
    (BulkAction.RENEW, _("Renew")),
    (BulkAction.DENY, _("Deny access")),
    (BulkAction.RESTORE, _("Restore access")),
    (BulkAction.CANCEL, _("Cancel")),
    (EXPORT, _("Export CSV")),
]
FILTER_NAMES = frozenset(LicenseFilterSet.base_filters)
ID_RANGE = range(1, 2**63)


def filtered(request, query: QueryDict):
    """The licenses ``request.user`` sees that match the list's filters ``query`` (the
    list's own FilterSet). A name the list does not filter by, or a value it refuses,
    is a ``ValidationError`` on ``filters``: a typo must not widen the selection."""
    unknown = sorted(set(query) - FILTER_NAMES)
    if unknown:
        raise ValidationError(
            {"filters": [_("Unknown filter: %(names)s.") % {"names": ", ".join(unknown)}]}
        )
    filterset = LicenseFilterSet(
        query, queryset=License.objects.visible_to(request.user), request=request
    )
    if not filterset.is_valid():
        raise ValidationError(
            {
                "filters": [
                    f"{name}: {message}"
                    for name, messages in filterset.errors.items()
                    for message in messages
                ]
            }
        )
    return filterset


def frozen_ids(queryset) -> list[int]:
    """The ids of ``queryset`` as they are now (in id order), at most ``MAX_LICENSES``."""
    ids = list(queryset.order_by("pk").values_list("pk", flat=True)[: bulk.MAX_LICENSES + 1])
    if len(ids) > bulk.MAX_LICENSES:
        raise ValidationError({"all": [bulk.too_many(queryset.count())]})
    return ids


class IdsField(forms.Field):
    """Repeated ``id`` values: license ids, duplicates dropped, in the order sent."""

    widget = forms.MultipleHiddenInput
    default_error_messages = {"invalid": _("Licenses are chosen by their ids (whole numbers).")}

    def to_python(self, value):
        if value in self.empty_values:
            return []
        values = value if isinstance(value, list | tuple) else [value]
        ids = []
        for item in values:
            try:
                number = int(str(item))
            except ValueError:
                raise ValidationError(self.error_messages["invalid"], code="invalid") from None
            if number not in ID_RANGE:
                raise ValidationError(self.error_messages["invalid"], code="invalid")
            ids.append(number)
        return list(dict.fromkeys(ids))


class BulkForm(forms.Form):
    """The bulk bar's GET (the confirmation page) and the confirmation's POST.

    ``confirming``: the POST, which also needs the reason of a denial or a cancellation
    and, for "all matching", the count the page showed (``expected``): when the
    matching licenses changed meanwhile, the page asks again with the new count.
    After ``is_valid()``, ``ids`` are the licenses chosen (``None`` for an export of all
    matching: read, not frozen) and ``filterset`` the list's filters when all matching.
    """

    action = forms.ChoiceField(label=_("Action"), choices=ACTION_CHOICES)
    years = forms.TypedChoiceField(
        label=_("Years"),
        choices=[(n, n) for n in range(1, 6)],
        coerce=int,
        required=False,
        empty_value=None,
    )
    id = IdsField(required=False)
    all = forms.BooleanField(required=False)
    filters = forms.CharField(required=False, max_length=4000, widget=forms.HiddenInput)
    reason = forms.CharField(
        label=_("Reason"),
        max_length=REASON_MAX,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    expected = forms.IntegerField(required=False, min_value=0, widget=forms.HiddenInput)

    def __init__(self, data, *, request, confirming: bool = False):
        super().__init__(data)
        self.request = request
        self.confirming = confirming
        self.ids: list[int] | None = []
        self.filterset = None
        self.count_changed = False

    def clean(self):
        data = super().clean()
        action = data.get("action")
        if action is None:
            return data
        if action == BulkAction.RENEW and data.get("years") is None:
            self.add_error("years", _("Choose how many years."))
        if action != BulkAction.RENEW:
            data["years"] = None
        if action in bulk.NEEDS_REASON:
            data["reason"] = (data.get("reason") or "").strip()
            if self.confirming and not data["reason"]:
                self.add_error("reason", _("This field is required."))
        if "id" in self.errors or "filters" in self.errors:
            return data
        try:
            self._select(data, action)
        except ValidationError as error:
            for field, messages in error.message_dict.items():
                for message in messages:
                    self.add_error(field if field in self.fields else None, message)
        return data

    def _select(self, data: dict, action: str) -> None:
        if data.get("all"):
            self.filterset = filtered(self.request, QueryDict(data.get("filters") or ""))
            if action == EXPORT:
                self.ids = None  # the matching rows as they are when read
                return
            self.ids = frozen_ids(self.filterset.qs)
            if not self.ids:
                raise ValidationError({"all": [_("No licenses match these filters.")]})
            expected = data.get("expected")
            if self.confirming and expected is not None and expected != len(self.ids):
                self.count_changed = True
                raise ValidationError(
                    {
                        "expected": [
                            _(
                                "The licenses matching the filters changed: %(count)s now. "
                                "Check and confirm again."
                            )
                            % {"count": f"{len(self.ids):,}"}
                        ]
                    }
                )
            return
        ids = data.get("id") or []
        if not ids:
            raise ValidationError({"id": [_("Select at least one license.")]})
        if len(ids) > bulk.MAX_LICENSES:
            raise ValidationError({"id": [bulk.too_many(len(ids))]})
        unknown = set(ids) - bulk.visible_ids(self.request.user, ids)
        if unknown:
            raise ValidationError(
                {"id": [_("Some selected licenses do not exist or are not ones you see.")]}
            )
        self.ids = ids

    def problems(self) -> list[str]:
        """The errors of the choice itself (the fields the page does not show)."""
        shown = [str(error) for error in self.non_field_errors()]
        for name in ("action", "years", "id", "all", "filters", "expected"):
            label = self.fields[name].label if name in ("action", "years") else None
            shown += [f"{label}: {e}" if label else str(e) for e in self.errors.get(name, [])]
        return shown

    def hidden_values(self) -> list[tuple[str, object]]:
        """What the confirmation posts back: the choice as it was made (for all
        matching, the filters and the count shown, never the ids: frozen at the POST)."""
        data = self.cleaned_data
        values = [("action", data["action"])]
        if data.get("years"):
            values.append(("years", data["years"]))
        if data.get("all"):
            values += [("all", "1"), ("filters", data.get("filters") or "")]
            if self.ids is not None:
                values.append(("expected", len(self.ids)))
        else:
            values += [("id", pk) for pk in self.ids or []]
        return values
