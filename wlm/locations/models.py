"""Locations (venues of one organization) and their configured elements."""

import datetime as dt
import uuid

from django.db import models
from django.utils.translation import gettext_lazy as _
from django_countries.fields import CountryField

from wlm.lib.durations import SecondsBetween
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


# Installation mode (docs/connections.md): while an installer tests a location, the
# connections seen there do not count toward its license's start. At most this long at
# a time, or open-ended ("until switched off").
INSTALLATION_MAX = dt.timedelta(days=30)
# "Never", as a moment: what ``counting_starts`` answers while an open-ended installation runs
NEVER = dt.datetime.max.replace(tzinfo=dt.UTC)


def in_installation(since: dt.datetime | None, until: dt.datetime | None, at: dt.datetime) -> bool:
    """Whether a location with these installation fields is in installation at ``at``:
    switched on at ``since``, until ``until`` (None: until switched off)."""
    return since is not None and since <= at and (until is None or at < until)


def counting_starts(
    since: dt.datetime | None, until: dt.datetime | None, counting_since: dt.datetime | None
) -> dt.datetime | None:
    """From which moment the connections seen at a location count toward a start (None:
    from any; ``NEVER``: an open-ended installation runs). An installation holds back
    everything seen there before its end, what came before it was switched on included
    (the installer's first tests); once it has ended, counting begins at its end: the
    date it was given, or the moment it was switched off (``counting_since``).
    ``wlm.connections.services.counting`` is the same rule in SQL."""
    if since is not None:
        return until or NEVER
    return counting_since


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
    # installation mode (``locations.services.start_installation``; docs/connections.md)
    installation_since = models.DateTimeField(
        _("in installation since"), null=True, blank=True, editable=False
    )
    installation_until = models.DateTimeField(
        _("in installation until"), null=True, blank=True, editable=False
    )
    counting_since = models.DateTimeField(
        _("connections count since"), null=True, blank=True, editable=False
    )

    objects = LocationQuerySet.as_manager()

    class Meta:
        verbose_name = _("location")
        verbose_name_plural = _("locations")
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="location_name_unique"),
            # an installation with an end date: after its start, at most 30 days later
            # (on SQLite within a millisecond: ``SecondsBetween``)
            models.CheckConstraint(
                condition=models.Q(installation_until__isnull=True)
                | models.Q(
                    models.lookups.LessThanOrEqual(
                        SecondsBetween("installation_since", "installation_until"),
                        INSTALLATION_MAX.total_seconds() + SecondsBetween.SLACK,
                    ),
                    installation_since__isnull=False,
                    installation_until__gt=models.F("installation_since"),
                ),
                name="location_installation_at_most_30_days",
            ),
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

    def in_installation(self, at: dt.datetime) -> bool:
        return in_installation(self.installation_since, self.installation_until, at)

    def counting_starts(self) -> dt.datetime | None:
        return counting_starts(
            self.installation_since, self.installation_until, self.counting_since
        )


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
