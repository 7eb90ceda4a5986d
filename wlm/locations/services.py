"""Business rules of locations and their configured elements.

Adding an element locks the location row, then the licenses it holds, and checks
their limits (wlm.licenses.limits) before the insert, in one transaction.

Installation mode (docs/connections.md) is switched here; what it means for the start
of a license is the intake's rule (``wlm.connections.services``), read from the
location's fields (``models.counting_starts``).
"""

import datetime as dt

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from wlm.audit import services as audit
from wlm.lib import clock
from wlm.lib.problems import Conflict, save_unique
from wlm.lib.validators import normalize_mac
from wlm.licenses.limits import require_room_for_one_more
from wlm.locations.models import INSTALLATION_MAX, AccessPoint, Location, Room, Sector
from wlm.tenancy.scoping import require_managed

LOCATION_FIELDS = ("name", "sector", "timezone", "address", "country")
INSTALLATION_FIELDS = ("installation_since", "installation_until", "counting_since")


def _save_unique(obj, message: str) -> None:
    """Insert ``obj``; a duplicate (or a race lost) becomes a 409 naming the field."""
    save_unique(obj, message)


@transaction.atomic
def create_location(user, *, organization, **fields) -> Location:
    require_managed(user, organization)
    location = Location(organization=organization, **fields)
    location.full_clean(validate_unique=False, validate_constraints=False)
    _save_unique(location, _("This organization already has a location with that name."))
    audit.record(
        audit.Kind.LOCATION_ADDED,
        obj=location,
        tenant=organization,
        actor=user,
        after=audit.snapshot(location, ["organization", *LOCATION_FIELDS]),
    )
    return location


@transaction.atomic
def update_location(user, location: Location, **fields) -> Location:
    """Change a location's data. It never moves to another organization."""
    require_managed(user, location)
    organization = fields.pop("organization", None)
    if organization is not None and organization.pk != location.organization_id:
        raise ValidationError(
            {"organization": [_("A location cannot move to another organization.")]}
        )
    location = Location.objects.select_for_update().get(pk=location.pk)
    new_sector = fields.get("sector", location.sector)
    leaves_hospitality = location.is_hospitality and new_sector != Sector.HOSPITALITY
    if leaves_hospitality and location.rooms.exists():
        raise Conflict(_("Remove the rooms before leaving the hospitality sector."))
    was = audit.snapshot(location, [name for name in fields if name in LOCATION_FIELDS])
    for name, value in fields.items():
        if name not in LOCATION_FIELDS:
            raise ValidationError({name: [_("This field cannot be changed.")]})
        setattr(location, name, value)
    location.full_clean(validate_unique=False, validate_constraints=False)
    _save_unique(location, _("This organization already has a location with that name."))
    audit.record_changes(
        audit.Kind.LOCATION_CHANGED, obj=location, tenant=location.organization, was=was, actor=user
    )
    return location


def check_installation_end(until: dt.datetime | None, now: dt.datetime) -> None:
    """An installation's end date: after ``now`` and at most ``INSTALLATION_MAX`` later
    (None: until switched off). The page's form and the API ask the same."""
    if until is None:
        return
    if until.tzinfo is None or until.utcoffset() is None:
        raise ValidationError({"until": [_("Give the end with its time zone offset.")]})
    if until <= now:
        raise ValidationError({"until": [_("The end of the installation must be in the future.")]})
    if until - now > INSTALLATION_MAX:
        raise ValidationError(
            {
                "until": [
                    _("An installation lasts at most %(days)d days; switch it on again later.")
                    % {"days": INSTALLATION_MAX.days}
                ]
            }
        )


@transaction.atomic
def start_installation(user, location: Location, *, until: dt.datetime | None) -> Location:
    """Put ``location`` in installation from now until ``until`` (None: until switched
    off): the connections seen there before its end never count toward a start. Again on
    a location in installation: a new installation from now (a new end, or none)."""
    require_managed(user, location)
    now = clock.now()
    check_installation_end(until, now)
    location = Location.objects.select_for_update().get(pk=location.pk)
    was = audit.snapshot(location, INSTALLATION_FIELDS)
    location.installation_since = now
    location.installation_until = until
    location.save(update_fields=["installation_since", "installation_until"])
    audit.record_changes(
        audit.Kind.LOCATION_CHANGED, obj=location, tenant=location.organization, was=was, actor=user
    )
    return location


@transaction.atomic
def end_installation(user, location: Location) -> Location:
    """Switch installation off now: connections count again from this moment (what was
    seen before it does not). 409 unless the location is in installation now."""
    require_managed(user, location)
    now = clock.now()
    location = Location.objects.select_for_update().get(pk=location.pk)
    if not location.in_installation(now):
        raise Conflict(_("This location is not in installation."))
    was = audit.snapshot(location, INSTALLATION_FIELDS)
    location.installation_since = location.installation_until = None
    location.counting_since = now
    location.save(update_fields=list(INSTALLATION_FIELDS))
    audit.record_changes(
        audit.Kind.LOCATION_CHANGED, obj=location, tenant=location.organization, was=was, actor=user
    )
    return location


@transaction.atomic
def add_access_point(user, location: Location, *, mac: str, name: str = "") -> AccessPoint:
    require_managed(user, location)
    location = Location.objects.select_for_update().get(pk=location.pk)
    require_room_for_one_more(location, AccessPoint)
    access_point = AccessPoint(location=location, mac=normalize_mac(mac), name=name)
    where = AccessPoint.objects.filter(mac=access_point.mac).values_list("location", flat=True)
    here = where.first() == location.pk
    message = (
        _("The access point %(mac)s is already configured at this location.")
        if here
        else _(
            "The access point %(mac)s is registered at another location; an access point "
            "serves one location. Remove it there first, or ask the platform operator."
        )
    )
    _save_unique(access_point, message % {"mac": access_point.mac})
    audit.record(
        audit.Kind.ACCESS_POINT_ADDED,
        obj=access_point,
        tenant=location.organization,
        actor=user,
        label=f"{location} · {access_point}",
        after={"location": str(location.pk), "mac": access_point.mac, "name": name},
    )
    return access_point


@transaction.atomic
def remove_access_point(user, access_point: AccessPoint) -> None:
    require_managed(user, access_point.location)
    audit.record(
        audit.Kind.ACCESS_POINT_REMOVED,
        obj=access_point,
        tenant=access_point.location.organization,
        actor=user,
        label=f"{access_point.location} · {access_point}",
        before={
            "location": str(access_point.location_id),
            "mac": access_point.mac,
            "name": access_point.name,
        },
    )
    access_point.delete()


@transaction.atomic
def add_room(user, location: Location, *, number: str) -> Room:
    require_managed(user, location)
    location = Location.objects.select_for_update().get(pk=location.pk)
    if location.sector != Sector.HOSPITALITY:
        raise Conflict(_("Rooms can only be configured at hospitality locations."))
    require_room_for_one_more(location, Room)
    room = Room(location=location, number=number.strip())
    _save_unique(
        room, _("Room %(number)s already exists at this location.") % {"number": room.number}
    )
    audit.record(
        audit.Kind.ROOM_ADDED,
        obj=room,
        tenant=location.organization,
        actor=user,
        label=f"{location} · {room}",
        after={"location": str(location.pk), "number": room.number},
    )
    return room


@transaction.atomic
def remove_room(user, room: Room) -> None:
    require_managed(user, room.location)
    audit.record(
        audit.Kind.ROOM_REMOVED,
        obj=room,
        tenant=room.location.organization,
        actor=user,
        label=f"{room.location} · {room}",
        before={"location": str(room.location_id), "number": room.number},
    )
    room.delete()
