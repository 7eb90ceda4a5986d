"""Locations (venues of one organization) and their configured elements."""

import uuid

from django.db import models
from django.utils.translation import gettext_lazy as _
from django_countries.fields import CountryField

from wlm.lib.migrations import folded_trigram_index
from wlm.lib.validators import validate_address, validate_one_line, validate_time_zone
from wlm.tenancy.models import Organization
from wlm.tenancy.scoping import ChildScopedQuerySet


class Sector(models.TextChoices):
    HOSPITALITY = "hospitality", _("Hospitality")
    RETAIL = "retail", _("Retail")
    OFFICE = "office", _("Office")
    EDUCATION = "education", _("Education")
    PUBLIC = "public", _("Public")
    OTHER = "other", _("Other")


class LocationQuerySet(ChildScopedQuerySet):
    parent_path = "organization"


class Location(models.Model):
    """A venue. Its ``id`` is the public "ID Location"; it never changes organization."""

    id = models.UUIDField(_("ID Location"), primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(
        Organization,
        on_delete=models.PROTECT,
        related_name="locations",
        verbose_name=_("organization"),
    )
    name = models.CharField(_("name"), max_length=200, validators=[validate_one_line])
    sector = models.CharField(_("sector"), max_length=20, choices=Sector.choices)
    timezone = models.CharField(_("time zone"), max_length=64, validators=[validate_time_zone])
    address = models.CharField(
        _("address"), max_length=300, blank=True, validators=[validate_address]
    )
    country = CountryField(_("country"))
    created = models.DateTimeField(_("created"), auto_now_add=True)

    objects = LocationQuerySet.as_manager()

    class Meta:
        verbose_name = _("location")
        verbose_name_plural = _("locations")
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="location_name_unique")
        ]
        indexes = [
            # the list's order: page 1 reads the first rows that pass the filters
            models.Index(fields=["name", "id"], name="location_name_idx"),
            # ``q``: trigram indexes on each column it searches, PostgreSQL only, so the
            # OR of its columns is a BitmapOr of indexes (locations 0006)
            folded_trigram_index("name", "location_name_fold_trgm"),
            folded_trigram_index("address", "location_address_fold_trgm"),
            folded_trigram_index("timezone", "location_timezone_fold_trgm"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_hospitality(self) -> bool:
        return self.sector == Sector.HOSPITALITY


class AccessPointQuerySet(ChildScopedQuerySet):
    parent_path = "location__organization"


class AccessPoint(models.Model):
    location = models.ForeignKey(
        Location,
        on_delete=models.CASCADE,
        related_name="access_points",
        verbose_name=_("location"),
    )
    mac = models.CharField(_("MAC address"), max_length=17)
    name = models.CharField(_("name"), max_length=200, blank=True, validators=[validate_one_line])
    created = models.DateTimeField(_("created"), auto_now_add=True)

    objects = AccessPointQuerySet.as_manager()

    class Meta:
        verbose_name = _("access point")
        verbose_name_plural = _("access points")
        ordering = ["location", "mac"]
        # an access point answers for one location: RADIUS finds the location by the
        # MAC alone (wlm.dataplane.radius)
        constraints = [models.UniqueConstraint(fields=["mac"], name="access_point_mac_unique")]

    def __str__(self) -> str:
        return self.name or self.mac


class RoomQuerySet(ChildScopedQuerySet):
    parent_path = "location__organization"


class Room(models.Model):
    """A hotel room of a hospitality location (its number or name)."""

    location = models.ForeignKey(
        Location, on_delete=models.CASCADE, related_name="rooms", verbose_name=_("location")
    )
    number = models.CharField(_("number"), max_length=50)
    created = models.DateTimeField(_("created"), auto_now_add=True)

    objects = RoomQuerySet.as_manager()

    class Meta:
        verbose_name = _("room")
        verbose_name_plural = _("rooms")
        ordering = ["location", "number"]
        constraints = [
            models.UniqueConstraint(fields=["location", "number"], name="room_number_unique")
        ]

    def __str__(self) -> str:
        return self.number


def elements_at(model, **where) -> models.Subquery:
    """How many ``model`` rows (AccessPoint or Room) stand at the locations ``where``
    selects: the one count of "elements in use", as a subquery expression, a column of
    the caller's one SELECT. A location's (``location=OuterRef("pk")``: the locations
    list, a license's assignments) or a license's, over all its locations
    (``licenses.limits.in_use``)."""
    rows = model.objects.filter(**where).order_by().annotate(n=models.Func("pk", function="COUNT"))
    return models.Subquery(rows.values("n"), output_field=models.IntegerField())
