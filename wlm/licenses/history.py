"""A license's history as a person reads it (the license view's Upgrades tab): each event's
changes with the fields' names and the values' labels in the reader's language, names
for the ids it stored (organization, location), times without microseconds.

The events keep what changed as data (``LicenseEvent.before`` / ``after``: field names and
stored values, plus what a change recorded besides — the request it came from, the
location it was provisioned on, the devices that started it); this module only shows it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from django.core.exceptions import FieldDoesNotExist
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from wlm.licenses.lifecycle import SYSTEM
from wlm.licenses.models import License, LicenseEvent, Module
from wlm.locations.models import Location
from wlm.tenancy.models import Organization

# what events record besides the license's own fields
LABELS = {
    "request": _("request"),
    "location": _("location"),
    "source": _("source"),
    "threshold": _("devices that start it"),
    "devices": _("first devices"),
}
SOURCES = {"seed_demo": _("demo data")}
EMPTY = "—"


@dataclass(frozen=True)
class Change:
    label: str
    before: str
    after: str


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


def label(name: str) -> str:
    field = _field(name)
    return capfirst(LABELS.get(name, name) if field is None else field.verbose_name)


class Names:
    """The names of what ``events`` stored by id or code — organizations, locations,
    modules: one query each, only when they name some."""

    def __init__(self, events: Sequence[LicenseEvent]) -> None:
        organizations, locations = set(), set()
        for event in events:
            for values in (event.before, event.after):
                if isinstance(values.get("organization"), int):
                    organizations.add(values["organization"])
                if isinstance(values.get("location"), str):
                    locations.add(values["location"])
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


def actor(event: LicenseEvent) -> str:
    """Who made the change: the user's name as it was, or the platform itself (the worker
    and the device trigger)."""
    if event.actor_id is None and event.actor_name == SYSTEM:
        return str(_("system"))
    return event.actor_name


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
    if timezone.is_aware(moment):
        moment = timezone.localtime(moment)
    return date_format(moment, "SHORT_DATETIME_FORMAT")


def value(name: str, raw, names: Names) -> str:
    """``raw`` (what the event stored for ``name``) as a person reads it."""
    if raw is None or raw == "" or raw == []:
        return EMPTY
    field = _field(name)
    if field is not None and getattr(field, "choices", None):
        return str(dict(field.choices).get(raw, raw))
    if name == "organization":
        return names.organizations.get(raw, f"#{raw}")
    if name == "location":
        return names.locations.get(raw, raw)
    if name == "request":
        return f"#{raw}"
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
    """Each value the event names, before and after."""
    keys = list(dict.fromkeys([*event.before, *event.after]))
    return [
        Change(
            label(key),
            value(key, event.before.get(key), names),
            value(key, event.after.get(key), names),
        )
        for key in keys
    ]
