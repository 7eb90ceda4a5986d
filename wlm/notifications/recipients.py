"""Who receives a license's notices (DESIGN §5; API.md "Tenants and users").

- the organization's admins: their in-app inbox, and e-mail when they have an address;
- the partner's and the distributor's admins: their in-app inbox;
- each of the three tenants' notice contacts: its notice e-mail and its webhook URL.

The same address twice on one channel gets one delivery. Each recipient has the
language its notices are written in (the user's, or the tenant's for its contacts).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Q

from wlm.notifications.models import Channel
from wlm.tenancy.models import Membership, Role, TenantType


@dataclass(frozen=True)
class Recipient:
    channel: str
    address: str  # e-mail address, webhook URL, or the username of an inbox
    language: str
    user: object = None  # the user of an inbox or an admin's e-mail
    tenant_type: str = ""  # whose recipient this is: the tenant of the user or contact
    tenant_id: int | None = None


def of(license) -> list[Recipient]:
    tenants = [
        (TenantType.ORGANIZATION, license.organization),
        (TenantType.PARTNER, license.partner),
        (TenantType.DISTRIBUTOR, license.distributor),
    ]
    found: list[Recipient] = []
    whose = Q()
    for tenant_type, tenant in tenants:
        if tenant is not None:  # (a None id would match every NULL: staff memberships)
            whose |= Q(tenant_type=tenant_type, **{f"{tenant_type}_id": tenant.pk})
    admins = (
        Membership.objects.filter(whose, role=Role.ADMIN, user__is_active=True)
        .select_related("user")
        .order_by("tenant_type", "user__username")
    )
    for membership in admins:
        user, kind, tenant_id = membership.user, membership.tenant_type, membership.tenant_id
        found.append(
            Recipient(
                Channel.INBOX, user.get_username(), membership.language, user, kind, tenant_id
            )
        )
        if kind == TenantType.ORGANIZATION and user.email:
            found.append(
                Recipient(Channel.EMAIL, user.email, membership.language, user, kind, tenant_id)
            )
    for tenant_type, tenant in tenants:
        if tenant is None:
            continue
        if tenant.email:
            found.append(
                Recipient(
                    Channel.EMAIL, tenant.email, tenant.language, None, tenant_type, tenant.pk
                )
            )
        if tenant.webhook_url:
            found.append(
                Recipient(
                    Channel.WEBHOOK,
                    tenant.webhook_url,
                    tenant.language,
                    None,
                    tenant_type,
                    tenant.pk,
                )
            )
    unique: dict[tuple[str, str], Recipient] = {}
    for recipient in found:
        unique.setdefault((recipient.channel, recipient.address.lower()), recipient)
    return list(unique.values())
