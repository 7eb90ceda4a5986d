"""A license's history as a person reads it (the license view's Upgrades tab): who made
each change (a person's name, or "system"), the fields' names and the values' labels in
the reader's language, names for the ids it stored (organization, location, request),
dates in the reader's format and moments in the reader's time zone (Django's current
one, its abbreviation printed with the time) — never a stored field name, id or ISO
timestamp. Also the license's current term after renewals (the view and the certificate).

The events keep what changed as data (``LicenseEvent.before`` / ``after``: field names and
stored values, plus what a change recorded besides — the request it came from, the
location it was provisioned on, the devices that started it); this module only shows it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.core.exceptions import FieldDoesNotExist, ObjectDoesNotExist
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.text import capfirst
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from wlm.licenses.lifecycle import SYSTEM
from wlm.licenses.models import EventKind, License, LicenseEvent, LicenseRequest, Module
from wlm.locations.models import Location
from wlm.tenancy.models import Organization, TenantType
from wlm.tenancy.scoping import actor_of

# what events record besides the license's own fields
LABELS = {
    "request": _("request"),
    "location": _("location"),
    "source": _("source"),
    "threshold": _("devices that start it"),
    "devices": _("first devices"),
}
# what a key means in one kind of event, where it is not the license's field of that name
KIND_LABELS = {(EventKind.RENEWED, "years"): _("renewed by")}
SOURCES = {"seed_demo": _("demo data")}
EMPTY = "—"
GONE = _("(no longer listed)")


@dataclass(frozen=True)
class Change:
    label: str
    before: str | None  # None: the event recorded one value only (``after``)
    after: str


@dataclass(frozen=True)
class Who:
    name: str  # a person's name, e-mail or user name; "system" for the platform itself
    tenant: str = ""  # whom they acted for


def _field(name: str):
    """The license's own field ``name`` (a column or its modules), None for what an event
    records besides (LABELS: "location" there is where it was provisioned, not the
    license's intended location)."""
    if name in LABELS:
        return None
    try:
        field = License._meta.get_field(name)
    except FieldDoesNotExist:
        return None
    return field if field.concrete or field.many_to_many else None


def label(name: str, kind: str = "") -> str:
    if (kind, name) in KIND_LABELS:
        return capfirst(str(KIND_LABELS[kind, name]))
    field = _field(name)
    return capfirst(str(LABELS.get(name, name) if field is None else field.verbose_name))


class Names:
    """The names of what ``events`` stored by id or code — organizations, locations,
    requests, modules, the people who acted: one query each, only when they name some.
    ``viewer`` is who reads: a person's e-mail is shown to their own tenant and staff."""

    def __init__(self, events: Sequence[LicenseEvent], viewer=None) -> None:
        organizations, locations, requests = set(), set(), set()
        for event in events:
            for values in (event.before, event.after):
                if isinstance(values.get("organization"), int):
                    organizations.add(values["organization"])
                if isinstance(values.get("location"), str):
                    locations.add(values["location"])
                if isinstance(values.get("request"), int):
                    requests.add(values["request"])
        self.organizations = (
            dict(Organization.objects.filter(pk__in=organizations).values_list("pk", "name"))
            if organizations
            else {}
        )
        stored_modules = any("modules" in v for e in events for v in (e.before, e.after))
        # the catalogue's names, when an event names modules
        self.modules = dict(Module.objects.values_list("code", "name")) if stored_modules else {}
        self.locations = (
            {
                str(pk): name
                for pk, name in Location.objects.filter(pk__in=locations).values_list("pk", "name")
            }
            if locations
            else {}
        )
        self.requests = (
            {
                pk: gettext("from %(partner)s on %(date)s")
                % {"partner": partner, "date": date_format(_local(created), "SHORT_DATE_FORMAT")}
                for pk, created, partner in LicenseRequest.objects.filter(
                    pk__in=requests
                ).values_list("pk", "created", "partner__name")
            }
            if requests
            else {}
        )
        actors = {event.actor_id for event in events if event.actor_id is not None}
        self.people = _people(actors, actor_of(viewer)) if actors else {}


def _people(user_ids: set[int], viewer) -> dict[int, Who]:
    users = get_user_model().objects.filter(pk__in=user_ids)
    users = users.select_related(
        "membership__distributor", "membership__partner", "membership__organization"
    )
    people = {}
    for user in users:
        try:
            membership = user.membership
        except ObjectDoesNotExist:
            membership = None
        own_tenant = membership is not None and (
            (membership.tenant_type, membership.tenant_id) == (viewer.tenant_type, viewer.tenant_id)
        )
        name = user.get_full_name().strip()
        if not name and user.email and (viewer.is_staff or own_tenant):
            name = user.email
        if membership is None:
            tenant = ""
        elif membership.tenant_type == TenantType.STAFF:
            tenant = str(TenantType.STAFF.label)
        else:
            tenant = membership.tenant.name
        people[user.pk] = Who(name or user.get_username(), tenant)
    return people


def actor(event: LicenseEvent, names: Names | None = None) -> Who:
    """Who made the change: the person (their name, else their e-mail where the reader
    may see it, else their user name as it was) and whom they acted for, or the platform
    itself (the worker and the device trigger)."""
    if event.actor_id is None and event.actor_name == SYSTEM:
        return Who(gettext("system"))
    if names is not None and event.actor_id in names.people:
        return names.people[event.actor_id]
    return Who(event.actor_name)


def _local(moment: dt.datetime) -> dt.datetime:
    return timezone.localtime(moment) if timezone.is_aware(moment) else moment


def _datetime(text: str) -> str:
    if len(text) == 10:  # a date, as the license's dates are stored
        try:
            return date_format(dt.date.fromisoformat(text), "SHORT_DATE_FORMAT")
        except ValueError:
            return text
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return text
    return date_format(_local(moment), "SHORT_DATETIME_FORMAT")


def value(name: str, raw, names: Names, kind: str = "") -> str:
    """``raw`` (what the event stored for ``name``) as a person reads it."""
    if raw is None or raw == "" or raw == []:
        return EMPTY
    if (kind, name) == (EventKind.RENEWED, "years") and isinstance(raw, int):
        return ngettext("%(count)d year", "%(count)d years", raw) % {"count": raw}
    field = _field(name)
    if field is not None and getattr(field, "choices", None):
        return str(dict(field.choices).get(raw, raw))
    if name == "organization":
        return names.organizations.get(raw, str(GONE))
    if name == "location":
        return names.locations.get(raw, str(GONE))
    if name == "request":
        return names.requests.get(raw, str(GONE))
    if name == "source":
        return str(SOURCES.get(raw, raw))
    if name == "devices" and isinstance(raw, list):
        return ngettext("%(count)d device", "%(count)d devices", len(raw)) % {"count": len(raw)}
    if name == "modules" and isinstance(raw, list):
        return ", ".join(names.modules.get(code, code) for code in raw)
    if isinstance(raw, list):
        return ", ".join(str(item) for item in raw)
    if isinstance(raw, str) and raw[:4].isdigit() and raw[4:5] == "-":
        return _datetime(raw)
    return str(raw)


def changes(event: LicenseEvent, names: Names) -> list[Change]:
    """Each value the event names: before and after where it recorded both and they
    differ (a field that changed), else the one value (a field set to what it was, what
    a change adds: a location assigned or taken off, the facts of a creation or a
    start)."""
    keys = list(dict.fromkeys([*event.before, *event.after]))
    shown = []
    for key in keys:
        before = value(key, event.before.get(key), names, event.kind)
        after = value(key, event.after.get(key), names, event.kind)
        if key in event.before and key in event.after and before != after:
            shown.append(Change(label(key, event.kind), before, after))
        else:
            shown.append(
                Change(label(key, event.kind), None, after if key in event.after else before)
            )
    return shown


# --- The current term -------------------------------------------------------------


@dataclass(frozen=True)
class Term:
    """The license's current term: its dates once started, the whole years between them
    (a renewal before the end lengthens the term, one after it starts a new one), and,
    once renewed, how often and the years licensed in all (the first term and every
    renewal). Before the start: the years it was sold for, no dates."""

    years: int
    start: dt.date | None = None
    end: dt.date | None = None
    renewals: int = 0
    total_years: int | None = None  # only once renewed

    @property
    def renewed(self) -> str:
        """The line a renewal adds ("Renewed twice; 4 years licensed in all"), or ""."""
        return renewed_text(self.renewals, self.total_years) if self.renewals else ""


def renewed_text(renewals: int, total_years: int | None) -> str:
    """The line a renewed term adds, in the view and on the certificate."""
    count = ngettext("Renewed once", "Renewed %(count)d times", renewals) % {"count": renewals}
    total = ngettext(
        "%(years)d year licensed in all", "%(years)d years licensed in all", total_years or 0
    ) % {"years": total_years or 0}
    return gettext("%(renewals)s; %(total)s") % {"renewals": count, "total": total}


def whole_years(start: dt.date, end: dt.date) -> int:
    """The whole years from ``start`` to ``end`` (29 February to 28 February is a year,
    as ``dates.add_years`` counts it)."""
    years = end.year - start.year
    leap_day = (start.month, start.day) == (2, 29) and (end.month, end.day) == (2, 28)
    if (end.month, end.day) < (start.month, start.day) and not leap_day:
        years -= 1
    return years


def term(license: License) -> Term:
    """``license``'s current term (one query: its renewals)."""
    renewals = [
        after.get("years")
        for after in license.events.filter(kind=EventKind.RENEWED).values_list("after", flat=True)
    ]
    renewed = {}
    if renewals:
        added = sum(years for years in renewals if isinstance(years, int))
        renewed = {"renewals": len(renewals), "total_years": license.years + added}
    if license.start_date is None or license.end_date is None:
        return Term(license.years, **renewed)
    return Term(
        whole_years(license.start_date, license.end_date),
        license.start_date,
        license.end_date,
        **renewed,
    )
