"""Forms of the license-request pages: they check types; ``services`` decides the rest
(which limit a location takes, which distributor a partner may ask, who decides)."""

from __future__ import annotations

from django import forms
from django.db.models import Case, F, OuterRef, Q, QuerySet, Subquery, When
from django.forms.models import ModelChoiceIterator
from django.utils.functional import cached_property
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from wlm.lib.filters import search
from wlm.lib.widgets import LocalDateInput
from wlm.licenses import services
from wlm.licenses.forms.licenses import RenewForm, UpgradeForm
from wlm.licenses.models import (
    ACTIVE_STATUSES,
    License,
    LicenseRequest,
    LicenseStatus,
    Module,
    Payment,
    RequestKind,
    StartMode,
)
from wlm.locations.models import Location
from wlm.tenancy.models import Distributor

REASON_MAX_LENGTH = 2000  # as the API's ReasonSerializer

# The request form's location field is a plain select of every location the user sees
# while they are at most this many; beyond, it is a search (docs/pages.md, "The location
# picker"): a large partner sees ~180,000 locations, which as options took ~1 s to render
# and megabytes of HTML.
LOCATION_SELECT_MAX = 200
# A search shows at most this many locations (besides the one already chosen).
LOCATION_SEARCH_MAX = 50
LOCATION_SEARCH_MAX_LENGTH = 200  # as the lists' ``q``
# what it compares, as the lists' ``q`` compares (``wlm.lib.filters.search``)
LOCATION_SEARCH_FIELDS = ("name", "organization__name")
# A search runs once a word has this many characters: shorter words alone match nearly
# every location and no trigram index helps (every visible location read and sorted:
# ~0.4 s at 100,000 locations, against 20-90 ms with a word of 3).
LOCATION_SEARCH_MIN_WORD = 3


class LocationsByOrganization(ModelChoiceIterator):
    """The locations as one ``<optgroup>`` per organization (a partner has many customers)."""

    def __iter__(self):
        if self.field.empty_label is not None:
            yield ("", self.field.empty_label)
        # the search's few rows when the field is a search, else every visible location
        shown = self.field.shown() if self.field.shown is not None else None
        groups: dict[str, list] = {}
        for location in self.queryset if shown is None else shown:
            groups.setdefault(location.organization.name, []).append(self.choice(location))
        yield from groups.items()


def limit_name(location: Location) -> str:
    """The limit a location's license counts: rooms in hospitality, access points elsewhere."""
    return "rooms" if location.is_hospitality else "aps"


def with_license_held(locations: QuerySet, user) -> QuerySet:
    """Each location with the license it already has, if any, for the request form's
    warning: ``held_status`` — its stored license (``CurrentLicense``) when that is active,
    else one generated for it and not sent yet (pending provision) — and ``held_key``,
    that license's key where ``user`` sees the license (NULL otherwise). In the one query
    of the locations."""
    active = Q(current__license__status__in=ACTIVE_STATUSES)
    pending = License.objects.filter(
        location=OuterRef("pk"), status=LicenseStatus.PENDING_PROVISION
    ).order_by("-created", "-pk")
    return locations.annotate(
        held_status=Case(
            When(active, then=F("current__license__status")),
            default=Subquery(pending.values("status")[:1]),
        ),
        held_key=Case(
            When(active, then=License.objects.shown_through("current__license", user, "key")),
            default=Subquery(pending.visible_to(user).values("key")[:1]),
        ),
    )


def license_note(location: Location | None, *, sent: bool = False) -> str:
    """The warning (not a refusal) for a location that already has an active or pending
    license, before the request is sent or after (``sent``): its key where the user sees
    the license, else just that it has one."""
    status = getattr(location, "held_status", None)
    if not status:
        return ""
    key = getattr(location, "held_key", None)
    if key:
        numbers = {"key": key, "status": LicenseStatus(status).label}
        if sent:
            return (
                gettext(
                    "Note: this location already has license %(key)s (%(status)s); the "
                    "distributor decides on the new request."
                )
                % numbers
            )
        return (
            gettext(
                "This location already has license %(key)s (%(status)s). You can still send "
                "this request; the distributor decides."
            )
            % numbers
        )
    if sent:
        return gettext(
            "Note: this location already has an active or pending license; the distributor "
            "decides on the new request."
        )
    return gettext(
        "This location already has an active or pending license. You can still send this "
        "request; the distributor decides."
    )


class LocationSelect(forms.Select):
    """Each option says which limit its location takes (``data-limit``), so a few lines of
    script (static/js/app.js) can show the right input at once; without script the service
    says it. An option of a location that already has a license carries the warning
    (``data-license-note``), which the script shows when it is chosen."""

    def __init__(self, attrs=None, choices=()):
        super().__init__({"data-limit-select": "", **(attrs or {})}, choices)

    def create_option(self, name, value, label, selected, index, subindex=None, attrs=None):
        option = super().create_option(name, value, label, selected, index, subindex, attrs)
        instance = getattr(value, "instance", None)
        if instance is not None:
            option["attrs"]["data-limit"] = limit_name(instance)
            note = license_note(instance)
            if note:  # the page's script shows it when the option is chosen
                option["attrs"]["data-license-note"] = note
        return option


class LocationChoiceField(forms.ModelChoiceField):
    """The ``queryset`` is every location the user sees: what a posted id is checked
    against. ``shown``, when set (by the form, per instance), returns the locations to
    render as options instead (a list), or None for all of them."""

    iterator = LocationsByOrganization
    widget = LocationSelect
    shown = None

    def label_from_instance(self, location: Location) -> str:
        """The sector is in the label: it says which limit (rooms or APs) is asked."""
        return f"{location.name} · {location.get_sector_display()}"


class ModuleChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, module: Module) -> str:
        return module.name


class PageForm(forms.Form):
    """Labels without Django's trailing colon (Pico puts labels above their inputs)."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


def limit_field(label: str, help_text: str) -> forms.IntegerField:
    return forms.IntegerField(
        label=label,
        required=False,
        min_value=1,
        max_value=services.MAX_LIMIT,
        help_text=help_text,
    )


class LicenseRequestForm(PageForm):
    """The fields of a request (DESIGN §2); both limits are here, the service says which."""

    location = LocationChoiceField(queryset=Location.objects.none(), label=_("Location"))
    distributor = forms.ModelChoiceField(
        queryset=Distributor.objects.none(), label=_("Distributor")
    )
    years = forms.IntegerField(min_value=1, max_value=5, initial=1, label=_("Years"))
    payment = forms.ChoiceField(choices=Payment.choices, initial=Payment.ANNUAL, label=_("Payment"))
    aps = limit_field(_("APs limit"), _("Access points; for every sector but hospitality."))
    rooms = limit_field(_("Rooms limit"), _("For hospitality locations (hotels)."))
    modules = ModuleChoiceField(
        queryset=Module.objects.filter(advanced=True),
        to_field_name="code",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label=_("Advanced modules"),
        help_text=_("The base modules come with every license."),
    )

    def __init__(self, *args, user, location_q: str = "", **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._user = user
        self._visible = Location.objects.visible_to(user)
        # what a posted location is checked against: every visible one, as always
        self.fields["location"].queryset = self._ordered(self._visible)
        self.fields["location"].shown = self.shown_locations
        self.location_q = (location_q or "").strip()[:LOCATION_SEARCH_MAX_LENGTH]
        distributors = Distributor.objects.visible_to(user).order_by("name", "id")
        self.fields["distributor"].queryset = distributors
        if not self.is_bound and "distributor" not in self.initial:
            only = list(distributors[:2])
            if len(only) == 1:  # a partner with one distributor: nothing to choose
                self.initial["distributor"] = only[0].pk

    def _ordered(self, locations: QuerySet) -> QuerySet:
        """Each location with its organization and its license held, in the page's order."""
        return with_license_held(
            locations.select_related("organization").order_by("organization__name", "name", "id"),
            self._user,
        )

    @cached_property
    def location_search(self) -> bool:
        """Whether the location field is a search: the user sees more than
        ``LOCATION_SELECT_MAX`` locations (one query of at most that many ids + 1, not
        sorted, whatever the number of locations)."""
        ids = self._visible.order_by().values_list("pk", flat=True)[: LOCATION_SELECT_MAX + 1]
        return len(ids) > LOCATION_SELECT_MAX

    @cached_property
    def found_locations(self) -> list[Location]:
        """The search's matches (``location_q``), at most ``LOCATION_SEARCH_MAX`` + 1 (the
        one more says that there are more): none before anything is typed."""
        if not self.location_searched:
            return []
        matching = search(self._visible, LOCATION_SEARCH_FIELDS, self.location_q)
        return list(self._ordered(matching)[: LOCATION_SEARCH_MAX + 1])

    @property
    def location_searched(self) -> bool:
        """Whether ``location_q`` is searched: a word of it is long enough."""
        return any(len(word) >= LOCATION_SEARCH_MIN_WORD for word in self.location_q.split())

    def shown_locations(self) -> list[Location] | None:
        """The options of a search: the chosen location (prefilled or posted), then the
        matches; None when the field is a plain select (every visible location)."""
        if not self.location_search:
            return None
        chosen = self.chosen_location()
        found = self.found_locations[:LOCATION_SEARCH_MAX]
        if chosen is None:
            return found
        return [chosen, *(location for location in found if location.pk != chosen.pk)]

    def location_search_status(self) -> str:
        """What the search found, said beside it (a live region)."""
        if not self.location_q:
            return gettext("Type part of the name of a location or of its organization.")
        if not self.location_searched:
            return ngettext(
                "Type at least %(count)s character of a name.",
                "Type at least %(count)s characters of a name.",
                LOCATION_SEARCH_MIN_WORD,
            ) % {"count": LOCATION_SEARCH_MIN_WORD}
        count = len(self.found_locations)
        if count > LOCATION_SEARCH_MAX:
            return gettext(
                "The first %(count)s locations found are in the list; type more to narrow it."
            ) % {"count": LOCATION_SEARCH_MAX}
        if count == 0:
            return gettext("No location found.")
        return ngettext("%(count)s location found.", "%(count)s locations found.", count) % {
            "count": count
        }

    def location_optgroups(self) -> list:
        """The location select's options, grouped as the page renders them: the
        search's answer (``requests/_location_options.html``) replaces them."""
        bound = self["location"]
        widget = bound.field.widget
        return widget.get_context(bound.html_name, bound.value(), None)["widget"]["optgroups"]

    def chosen_location(self) -> Location | None:
        """The location the form is about (posted or prefilled), if it is a visible one."""
        if not hasattr(self, "_chosen_location"):
            value = self["location"].value()
            try:
                chosen = self.fields["location"].to_python(value) if value else None
            except forms.ValidationError:
                chosen = None
            self._chosen_location = chosen
        return self._chosen_location

    def license_note(self, *, sent: bool = False) -> str:
        """The warning for the chosen location, shown without script too."""
        return license_note(self.chosen_location(), sent=sent)

    def limit_fields(self) -> list[tuple[forms.BoundField, bool]]:
        """Both limit inputs, each with whether it is shown: the one the chosen location
        takes, both while no location is chosen, and any holding a value or an error, so
        nothing typed or to correct is hidden. The page's script re-decides on change."""
        location = self.chosen_location()
        wanted = None if location is None else limit_name(location)
        fields = []
        for name in ("aps", "rooms"):
            bound = self[name]
            shown = wanted in (None, name) or bool(bound.errors) or bound.value() not in (None, "")
            fields.append((bound, shown))
        return fields

    def terms(self) -> services.Terms:
        """The request's terms, built as the API's ``TermsSerializer.terms`` builds them."""
        data = self.cleaned_data
        return services.Terms(
            location=data["location"],
            distributor=data["distributor"],
            years=data["years"],
            payment=data["payment"],
            aps=data.get("aps"),
            rooms=data.get("rooms"),
            modules=tuple(data.get("modules") or ()),
        )


class ApproveForm(PageForm):
    """How the generated license starts (the API's ``StartSerializer``)."""

    start_mode = forms.ChoiceField(
        choices=StartMode.choices,
        initial=StartMode.AUTOMATIC,
        widget=forms.RadioSelect,
        label=_("Start"),
    )
    fixed_start = forms.DateField(
        required=False,
        widget=LocalDateInput(),
        label=_("Fixed start date"),
        help_text=_("Only for a fixed start: the date the term begins, in the location's time."),
    )


class RejectForm(PageForm):
    reason = forms.CharField(
        max_length=REASON_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 4}),
        label=_("Reason"),
        help_text=_("The partner reads it."),
    )


# --- A renewal or an upgrade of an existing license ---------------------------------
# The fields of the distributor's own Renew and Upgrade forms (the same limit by the
# license's type, the same module choices), without the reason: the request goes to
# the distributor, whose approval applies it with the same lifecycle functions.


class RenewalRequestForm(RenewForm):
    title = _("Request a renewal")
    submit_label = _("Send request")

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("label_suffix", "")  # as the other request pages (PageForm)
        super().__init__(*args, **kwargs)
        del self.fields["reason"]

    def act(self) -> LicenseRequest:
        return services.request_renewal(self.user, self.license, self.cleaned_data["years"])


class UpgradeRequestForm(UpgradeForm):
    title = _("Request a change")
    submit_label = _("Send request")

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        del self.fields["reason"]

    def act(self) -> LicenseRequest:
        data = self.cleaned_data
        return services.request_upgrade(
            self.user,
            self.license,
            aps=data.get("aps"),
            rooms=data.get("rooms"),
            add_modules=data["add_modules"],
            remove_modules=data["remove_modules"],
        )


CHANGE_FORMS = {RequestKind.RENEWAL: RenewalRequestForm, RequestKind.UPGRADE: UpgradeRequestForm}
