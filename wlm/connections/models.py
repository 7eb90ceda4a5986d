"""What the intake keeps of device connections (DESIGN §2, §4; docs/connections.md).

Per-device rows exist only where they decide a start: for each license that is
pending start, the first time each distinct (hashed) device was seen at one of its
locations. They are deleted when the license starts. Everywhere else the intake keeps
one aggregate row per location and local day, so storage does not grow per event.

A partner's installer devices (hashed the same way) never count at its locations.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from wlm.lib.validators import validate_one_line
from wlm.tenancy.models import TenantType
from wlm.tenancy.scoping import ScopedQuerySet


class PendingDevice(models.Model):
    """A distinct device seen at a location of a license that is pending start."""

    license = models.ForeignKey(
        "licenses.License",
        on_delete=models.CASCADE,
        related_name="pending_devices",
        verbose_name=_("license"),
    )
    device = models.CharField(_("device (keyed hash)"), max_length=64)
    location = models.ForeignKey(
        "locations.Location", on_delete=models.CASCADE, related_name="+", verbose_name=_("location")
    )
    first_seen = models.DateTimeField(_("first seen"))

    class Meta:
        verbose_name = _("device of a pending license")
        verbose_name_plural = _("devices of pending licenses")
        constraints = [
            models.UniqueConstraint(fields=["license", "device"], name="pending_device_unique")
        ]
        indexes = [models.Index(fields=["license", "first_seen"], name="pending_device_order_idx")]

    def __str__(self) -> str:
        return f"{self.device[:12]}… for license {self.license_id}"


class LocationDay(models.Model):
    """How many connection events a location reported on one local day (the aggregate)."""

    location = models.ForeignKey(
        "locations.Location", on_delete=models.CASCADE, related_name="+", verbose_name=_("location")
    )
    day = models.DateField(_("local day"))
    events = models.PositiveBigIntegerField(_("events"), default=0)

    class Meta:
        verbose_name = _("connections of a location on a day")
        verbose_name_plural = _("connections of locations by day")
        constraints = [
            models.UniqueConstraint(fields=["location", "day"], name="location_day_unique")
        ]
        # the retention's oldest days first (wlm.retention): the unique index leads with the
        # location, so without this one each batch would read the whole table
        indexes = [models.Index(fields=["day"], name="location_day_day_idx")]

    def __str__(self) -> str:
        return f"{self.location_id} {self.day}: {self.events}"


class IntakeKey(models.Model):
    """An ``Idempotency-Key`` a gateway sent with a batch, and the answer it got: a
    retry of the batch (same key, same body) is answered again instead of counted again.

    Kept ``services.key_lifetime()`` (24 h unless set); the notifier's retention deletes
    older ones (wlm.retention). The answer is the JSON text as first sent (PostgreSQL's
    jsonb would reorder its keys).
    """

    # the unique (user, key) index serves the user's rows: no index of its own
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,
        verbose_name=_("user"),
    )
    key = models.CharField(_("idempotency key"), max_length=255)
    body_hash = models.CharField(_("SHA-256 of the body"), max_length=64)
    answer = models.TextField(_("answer (JSON)"), blank=True)  # written with the batch
    created = models.DateTimeField(_("created"))

    class Meta:
        verbose_name = _("idempotency key of the intake")
        verbose_name_plural = _("idempotency keys of the intake")
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="intake_key_unique")]
        indexes = [models.Index(fields=["created"], name="intake_key_created_idx")]

    def __str__(self) -> str:
        return f"{self.key} of user {self.user_id}"


class InstallerDeviceQuerySet(ScopedQuerySet):
    """A partner's own installer devices: its users read them, its admins change them;
    staff all. Nobody else sees them (a customer's page shows only their effect)."""

    def _visible_filter(self, actor):
        return self._managed_filter(actor)

    def _managed_filter(self, actor):
        if actor.tenant_type == TenantType.PARTNER:
            return Q(partner_id=actor.tenant_id)
        return None


class InstallerDevice(models.Model):
    """A device of a partner's installers (a test phone, a laptop): its connections never
    count toward the start of a license at any location of the partner's organizations
    (docs/connections.md). Kept as the intake keeps devices: the keyed hash of its MAC."""

    partner = models.ForeignKey(
        "tenancy.Partner",
        on_delete=models.CASCADE,
        related_name="installer_devices",
        db_index=False,  # the unique (partner, device) index serves the partner's rows
        verbose_name=_("partner"),
    )
    device = models.CharField(_("device (keyed hash)"), max_length=64)
    label = models.CharField(_("label"), max_length=100, blank=True, validators=[validate_one_line])
    created = models.DateTimeField(_("created"))

    objects = InstallerDeviceQuerySet.as_manager()

    class Meta:
        verbose_name = _("installer device")
        verbose_name_plural = _("installer devices")
        ordering = ["partner", "label", "id"]
        constraints = [
            models.UniqueConstraint(fields=["partner", "device"], name="installer_device_unique")
        ]

    def __str__(self) -> str:
        return self.label or self.device[:12] + "…"
