"""A partner's installer devices (docs/connections.md): the test phones and laptops its
installers connect while they set a location up. Their connections never count toward
the start of a license at the locations of the partner's organizations (the intake's
rule, ``services.counting``); they are kept as the intake keeps every device, as the
keyed hash of the MAC (``services.device_key``), never in clear.

Registered from the API (``/api/v1/installer-devices/``) and the page
(``/installer-devices/``) by the partner's admins or staff; every change is in the
audit log (as a change of the partner's settings: the audit log's kinds are fixed).
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from wlm.audit import services as audit
from wlm.connections.models import InstallerDevice, PendingDevice
from wlm.connections.services import device_key
from wlm.lib import clock
from wlm.lib.problems import Conflict, save_unique
from wlm.lib.validators import normalize_mac, validate_one_line
from wlm.tenancy.models import Partner
from wlm.tenancy.scoping import require_managed

# a partner's devices are read whole by every batch of the intake at its locations
MAX_PER_PARTNER = 1_000


def hashed_mac(mac: str) -> str:
    """The stored form of a MAC given in any usual notation (400 when it is none): the
    intake's hash of the same device, so both meet."""
    return device_key(normalize_mac(mac))


@transaction.atomic
def add_installer_device(user, partner: Partner, *, mac: str, label: str = "") -> InstallerDevice:
    """Register one of ``partner``'s installer devices; a MAC it has already is a 409."""
    require_managed(user, partner, _("Only the partner's admins register its installer devices."))
    try:
        device = hashed_mac(mac)
    except ValidationError as error:
        raise ValidationError({"mac": error.messages}) from None
    label = label.strip()
    try:
        validate_one_line(label)
    except ValidationError as error:
        raise ValidationError({"label": error.messages}) from None
    # the partner's row is the lock that keeps the count under the limit
    Partner.objects.select_for_update().get(pk=partner.pk)
    if InstallerDevice.objects.filter(partner=partner).count() >= MAX_PER_PARTNER:
        raise Conflict(
            _("A partner has at most %(max)d installer devices; remove some first.")
            % {"max": MAX_PER_PARTNER}
        )
    row = InstallerDevice(partner=partner, device=device, label=label, created=clock.now())
    save_unique(row, _("This device is already one of the partner's installer devices."))
    # what the intake kept of it at the partner's locations stops counting for good
    PendingDevice.objects.filter(device=device, location__organization__partner=partner).delete()
    audit.record(
        audit.Kind.TENANT_SETTINGS_CHANGED,
        obj=row,
        tenant=partner,
        actor=user,
        label=_label(partner, row),
        after={"installer_device": row.label or row.device[:12]},
    )
    return row


@transaction.atomic
def remove_installer_device(user, device: InstallerDevice) -> None:
    """Forget an installer device: from now on its connections count like any other's
    (what was seen of it before does not: the intake kept none of it)."""
    partner = device.partner
    require_managed(user, partner, _("Only the partner's admins remove its installer devices."))
    audit.record(
        audit.Kind.TENANT_SETTINGS_CHANGED,
        obj=device,
        tenant=partner,
        actor=user,
        label=_label(partner, device),
        before={"installer_device": device.label or device.device[:12]},
    )
    device.delete()


def _label(partner: Partner, device: InstallerDevice) -> str:
    return f"{partner} · {_('installer device')} {device}"
