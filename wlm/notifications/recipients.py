"""Who receives a license's notices (DESIGN §5; API.md "Tenants and users").

- the organization's admins: their in-app inbox, and e-mail when they have an address;
- the partner's and the distributor's admins: their in-app inbox;
- each of the three tenants' notice contacts: its notice e-mail and its webhook URL.

Recipients are told apart per tenant, never merged across tenants: the same address
twice on one channel *of one tenant* (an admin's e-mail that is also the organization's
notice e-mail) gets one delivery, but when two tenants name the same address (another
letter case or not) each gets its own — a customer that sets its partner's webhook URL
takes nothing from the partner, whose delivery is still signed with its own secret.
Each recipient has the language its notices are written in (the user's, or the tenant's
for its contacts).
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


KINDS = (TenantType.ORGANIZATION, TenantType.PARTNER, TenantType.DISTRIBUTOR)


def _tenants(license) -> list[tuple[str, object]]:
    return [
        (kind, tenant)
        for kind, tenant in zip(
            KINDS, (license.organization, license.partner, license.distributor), strict=True
        )
        if tenant is not None
    ]


def for_licenses(licenses) -> dict[int, list[Recipient]]:
    """The recipients of each license's notices, with one query for the admins of all of
    their tenants."""
    ids: dict[str, set[int]] = {kind: set() for kind in KINDS}
    for license in licenses:
        for kind, tenant in _tenants(license):
            ids[kind].add(tenant.pk)
    whose = Q(pk__in=[])
    for kind, pks in ids.items():
        if pks:  # (never a None id: it would match the NULLs of staff memberships)
            whose |= Q(tenant_type=kind, **{f"{kind}_id__in": pks})
    admins: dict[tuple[str, int], list] = {}
    for membership in (
        Membership.objects.filter(whose, role=Role.ADMIN, user__is_active=True)
        .select_related("user")
        .order_by("tenant_type", "user__username")
    ):
        admins.setdefault((membership.tenant_type, membership.tenant_id), []).append(membership)
    return {license.pk: _recipients(license, admins) for license in licenses}


def _recipients(license, admins: dict) -> list[Recipient]:
    found: list[Recipient] = []
    tenants = _tenants(license)
    for kind, tenant in tenants:
        for membership in admins.get((kind, tenant.pk), []):
            user = membership.user
            found.append(
                Recipient(
                    Channel.INBOX, user.get_username(), membership.language, user, kind, tenant.pk
                )
            )
            if kind == TenantType.ORGANIZATION and user.email:
                found.append(
                    Recipient(Channel.EMAIL, user.email, membership.language, user, kind, tenant.pk)
                )
    for kind, tenant in tenants:
        if tenant.email:
            found.append(
                Recipient(Channel.EMAIL, tenant.email, tenant.language, None, kind, tenant.pk)
            )
        if tenant.webhook_url:
            found.append(
                Recipient(
                    Channel.WEBHOOK, tenant.webhook_url, tenant.language, None, kind, tenant.pk
                )
            )
    unique: dict[tuple, Recipient] = {}
    for to in found:
        unique.setdefault((to.tenant_type, to.tenant_id, to.channel, to.address.lower()), to)
    return list(unique.values())
