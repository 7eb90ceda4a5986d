"""Business rules of locations and their configured elements.

Adding an element locks the location row, then the licenses it holds, and checks
their limits (wlm.licenses.limits) before the insert, in one transaction.
"""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from wlm.lib.problems import Conflict, save_unique
from wlm.lib.validators import normalize_mac
from wlm.licenses.limits import require_room_for_one_more
from wlm.locations.models import AccessPoint, Location, Room, Sector
from wlm.tenancy.scoping import require_managed

LOCATION_FIELDS = ("name", "sector", "timezone", "address", "country")


def _save_unique(obj, message: str) -> None:
    """Insert ``obj``; a duplicate (or a race lost) becomes a 409 naming the field."""
    save_unique(obj, message)


def create_location(user, *, organization, **fields) -> Location:
    require_managed(user, organization)
    location = Location(organization=organization, **fields)
    location.full_clean(validate_unique=False, validate_constraints=False)
    _save_unique(location, _("This organization already has a location with that name."))
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
    for name, value in fields.items():
        if name not in LOCATION_FIELDS:
            raise ValidationError({name: [_("This field cannot be changed.")]})
        setattr(location, name, value)
    location.full_clean(validate_unique=False, validate_constraints=False)
    _save_unique(location, _("This organization already has a location with that name."))
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
    return access_point


@transaction.atomic
def remove_access_point(user, access_point: AccessPoint) -> None:
    require_managed(user, access_point.location)
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
    return room


@transaction.atomic
def remove_room(user, room: Room) -> None:
    require_managed(user, room.location)
    room.delete()
