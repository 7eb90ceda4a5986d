"""The change log that tells every server process which entitlements to read again."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Change(models.Model):
    """A row that something an entitlement depends on changed: written by database
    triggers (wlm.dataplane.triggers) in the writer's own transaction, whatever wrote it
    (a service, a bulk update, the admin). ``license_id`` and ``location_id`` are plain
    values, not foreign keys: the row outlives what it names.

    ``xid`` is PostgreSQL's transaction id of the writer (0 on SQLite): a reader that
    remembers the oldest transaction still running misses no commit (wlm.dataplane.cache).
    """

    id = models.BigAutoField(primary_key=True)
    license_id = models.BigIntegerField(_("license"), null=True)
    location_id = models.UUIDField(_("location"), null=True)
    xid = models.BigIntegerField(default=0, verbose_name=_("transaction id"))
    at = models.DateTimeField(_("at"))

    class Meta:
        verbose_name = _("entitlement change")
        verbose_name_plural = _("entitlement changes")
        indexes = [models.Index(fields=["xid"], name="dataplane_change_xid")]

    def __str__(self) -> str:
        return f"change {self.pk}: license {self.license_id}, location {self.location_id}"
