"""Writing the audit log: ``record`` in the transaction of the change it records.

A service calls ``record(kind, obj=…, tenant=…, before=…, after=…, actor=user)`` inside
its atomic block, after the change: the entry commits with the change or not at all.
``tenant`` says whose the object is — a distributor, partner or organization row (its
chain is read from it), a ``Scope`` for an object of several tenants at once (a license:
its distributor, partner and organization), or None for the platform's own (staff only
read it). The request's client address and user agent come from ``AuditMiddleware``
(a context variable); background work has none and no user: its actor is ``system``.

For pages and endpoints still to come (tokens, users), the same call::

    audit.record(Kind.TOKEN_CREATED, obj=token, tenant=audit.tenant_of(owner), actor=user,
                 after={"name": token.name, "scope": token.scope})
    audit.record(Kind.USER_DEACTIVATED, obj=person, tenant=audit.tenant_of(person),
                 actor=user, before={"is_active": True}, after={"is_active": False})

Secrets never go into ``before``/``after`` (a token's key, a webhook secret): say that
it changed (``after={"webhook_secret": CHANGED}``).
"""

from __future__ import annotations

import contextvars
import datetime as dt
import decimal
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.db import connection, models, transaction

from wlm.audit.models import AuditEntry, Kind
from wlm.lib import clock
from wlm.tenancy.models import Organization, TenantType

SYSTEM = "system"
CHANGED = "(changed)"  # a secret's before and after: only that it changed
LABEL_LENGTH = AuditEntry._meta.get_field("object_label").max_length
AGENT_LENGTH = AuditEntry._meta.get_field("user_agent").max_length
NAME_LENGTH = AuditEntry._meta.get_field("actor_name").max_length
# the transaction-local setting that tells PostgreSQL's append-only trigger the retention's
# horizon (migration audit 0005)
HORIZON = "wlm.audit_expire_before"


@dataclass(frozen=True)
class Client:
    """Where a request came from (``AuditMiddleware``)."""

    address: str | None = None
    user_agent: str = ""


NO_CLIENT = Client()
_client: contextvars.ContextVar[Client] = contextvars.ContextVar(
    "wlm_audit_client", default=NO_CLIENT
)


def set_client(client: Client) -> contextvars.Token:
    return _client.set(client)


def reset_client(token: contextvars.Token) -> None:
    _client.reset(token)


def client() -> Client:
    return _client.get()


@dataclass(frozen=True)
class Scope:
    """The tenant chain of an object: the ids the tenancy door filters the log on.

    ``distributor``: set when the object is one distributor's (its licenses, the
    requests addressed to it, the distributor itself); else None and every distributor
    of ``partner`` sees it (a partner's, an organization's, a location's)."""

    distributor: int | None = None
    partner: int | None = None
    organization: int | None = None

    @property
    def tenant(self) -> tuple[str, int | None]:
        """The lowest tenant of the chain (type, id): whose the object is."""
        if self.organization is not None:
            return TenantType.ORGANIZATION, self.organization
        if self.partner is not None:
            return TenantType.PARTNER, self.partner
        if self.distributor is not None:
            return TenantType.DISTRIBUTOR, self.distributor
        return TenantType.STAFF, None


PLATFORM = Scope()


def scope_of(tenant) -> Scope:
    """The chain of a tenant row (or a ``Scope`` as it is; None: the platform's)."""
    if tenant is None:
        return PLATFORM
    if isinstance(tenant, Scope):
        return tenant
    tenant_type = tenant._meta.model_name
    if tenant_type == TenantType.DISTRIBUTOR:
        return Scope(distributor=tenant.pk)
    if tenant_type == TenantType.PARTNER:
        return Scope(partner=tenant.pk)
    if tenant_type == TenantType.ORGANIZATION:
        return Scope(partner=tenant.partner_id, organization=tenant.pk)
    raise TypeError(f"not a tenant: {tenant!r}")


def tenant_of(user) -> Scope:
    """The chain of a user's tenant (staff, or no membership: the platform's)."""
    membership = getattr(user, "membership", None) if user is not None else None
    if membership is None:
        return PLATFORM
    if membership.organization_id is not None:
        partner = Organization.objects.filter(pk=membership.organization_id)
        return Scope(
            partner=partner.values_list("partner_id", flat=True).first(),
            organization=membership.organization_id,
        )
    return Scope(distributor=membership.distributor_id, partner=membership.partner_id)


def license_scope(license) -> Scope:
    """A license's chain: its distributor, its partner and (once provisioned: before, it
    sees no license) its organization."""
    return Scope(license.distributor_id, license.partner_id, license.organization_id)


def request_scope(request) -> Scope:
    """A license request's chain: its distributor, its partner and the organization of its
    location (which sees the requests for its locations)."""
    return Scope(request.distributor_id, request.partner_id, request.location.organization_id)


LICENSE_KINDS = {"assigned": Kind.ASSIGNMENT_ADDED, "unassigned": Kind.ASSIGNMENT_REMOVED}


def license_kind(event_kind: str) -> Kind:
    """The log's kind of a license history event (``licenses.models.EventKind``)."""
    return LICENSE_KINDS.get(str(event_kind)) or Kind(f"license_{event_kind}")


def value(item):
    """A field's value as JSON keeps it: a row as its id, a date in ISO, a country as its
    code, the rest as text."""
    if item is None or isinstance(item, bool | int | float | str):
        return item
    if isinstance(item, models.Manager):  # a to-many relation: its rows' ids, in order
        return sorted(value(pk) for pk in item.values_list("pk", flat=True))
    if isinstance(item, models.Model):
        return item.pk if not isinstance(item.pk, uuid.UUID) else str(item.pk)
    if isinstance(item, dt.date | dt.datetime):
        return item.isoformat()
    if isinstance(item, list | tuple | set | frozenset):
        values = [value(element) for element in item]
        return sorted(values, key=str) if isinstance(item, set | frozenset) else values
    if isinstance(item, dict):
        return {str(key): value(element) for key, element in item.items()}
    if isinstance(item, uuid.UUID | decimal.Decimal):
        return str(item)
    return str(item)


def webhook_host(url: str) -> str:
    """A webhook URL as the log keeps it: its scheme and host, not its path nor query
    (receivers often take credentials there; docs/security.md)."""
    if not url:
        return ""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}/…"


def snapshot(obj, fields: Iterable[str]) -> dict:
    """``obj``'s ``fields`` (those it has) before a change, for ``record_changes``; a
    to-many relation as its ids."""
    return {name: value(getattr(obj, name)) for name in fields if hasattr(obj, name)}


# how a tenant's settings are written in the log: the webhook URL without its path
TENANT_REDACTED = {"webhook_url": webhook_host}


def record_changes(kind: Kind, *, obj, tenant, was: dict, actor=None, redact=None):
    """``record`` with the fields of ``was`` (a ``snapshot``) that changed: their old and
    new values, nothing when none changed. ``redact`` maps a field to the function that
    writes it in the log (``webhook_host``)."""
    now = snapshot(obj, was)
    changed = [name for name in was if was[name] != now[name]]
    if not changed:
        return None
    redact = redact or {}

    def shown(name, item):
        return redact[name](item) if name in redact else item

    return record(
        kind,
        obj=obj,
        tenant=tenant,
        actor=actor,
        before={name: shown(name, was[name]) for name in changed},
        after={name: shown(name, now[name]) for name in changed},
    )


def _text(text: str | None) -> str | None:
    """Text as the database stores it: without NUL characters (PostgreSQL refuses them)."""
    return text.replace("\x00", "") if text else text


def _actor(actor) -> tuple[int | None, str]:
    if actor is None or not getattr(actor, "is_authenticated", False):
        return None, SYSTEM
    return actor.pk, actor.get_username()[:NAME_LENGTH]


def record(
    kind: Kind,
    *,
    obj,
    tenant,
    before: dict | None = None,
    after: dict | None = None,
    actor=None,
    label: str | None = None,
    actor_name: str | None = None,
) -> AuditEntry:
    """Append one entry in the caller's transaction (call it inside the atomic block of
    the change). ``obj``: the changed row (its type, id and ``str`` as label), or None
    with ``label`` (a login attempt's user name); ``tenant``: see the module's text;
    ``actor``: the user who made the change (None: ``system``, or ``actor_name``);
    ``before``/``after``: the changed fields only, never a secret."""
    entry = _entry(
        kind,
        obj=obj,
        tenant=tenant,
        before=before,
        after=after,
        actor=actor,
        label=label,
        actor_name=actor_name,
    )
    # inside the caller's transaction; alone (a failed login), its own
    with transaction.atomic(savepoint=False):
        entry.save(force_insert=True)
    return entry


def _entry(
    kind: Kind,
    *,
    obj,
    tenant,
    before: dict | None = None,
    after: dict | None = None,
    actor=None,
    label: str | None = None,
    actor_name: str | None = None,
) -> AuditEntry:
    """``record``'s entry, not yet saved."""
    scope = scope_of(tenant)
    tenant_type, tenant_id = scope.tenant
    actor_id, name = _actor(actor)
    if actor_id is None and actor_name:
        name = actor_name[:NAME_LENGTH]
    where = client()
    label = _text(label)
    if obj is not None:
        object_type = obj._meta.label_lower
        object_id = str(obj.pk)
        text = _text(str(obj)) if label is None else label
    else:
        object_type, object_id, text = "", "", label or ""
    entry = AuditEntry(
        at=clock.now(),
        actor_id=actor_id,
        actor_name=_text(name),
        kind=Kind(kind),
        tenant_type=tenant_type,
        tenant_id=tenant_id,
        distributor_id=scope.distributor,
        partner_id=scope.partner,
        organization_id=scope.organization,
        object_type=object_type,
        object_id=object_id,
        object_label=text[:LABEL_LENGTH],
        before=value(before or {}),
        after=value(after or {}),
        address=where.address,
        user_agent=_text(where.user_agent)[:AGENT_LENGTH],
    )
    return entry


def record_license_event(license, event_kind: str, actor, *, reason="", before=None, after=None):
    """A license's history event (``licenses.lifecycle.record``, the one place they are
    written) in the log, in the same transaction: the reason goes with ``after``."""
    return record_license_events([(license, event_kind, actor, reason, before, after)])[0]


def record_license_events(events: list[tuple]) -> list[AuditEntry]:
    """``record_license_event`` for several (license, kind, actor, reason, before,
    after), in one statement (``lifecycle.start_all``)."""
    entries = [
        _entry(
            license_kind(event_kind),
            obj=license,
            tenant=license_scope(license),
            actor=actor,
            before=before,
            after={**(after or {}), **({"reason": reason} if reason else {})},
        )
        for license, event_kind, actor, reason, before, after in events
    ]
    with transaction.atomic(savepoint=False):
        if len(entries) == 1:  # as ``record`` saves it
            entries[0].save(force_insert=True)
            return entries
        return AuditEntry.objects.bulk_create(entries)


def expire(before: dt.datetime, limit: int) -> int:
    """Delete up to ``limit`` of the oldest entries from before ``before``, in a transaction
    of its own; how many. The retention's one way through the append-only rule
    (wlm.retention): on PostgreSQL it first declares ``before`` as this transaction's
    horizon, and the trigger lets a DELETE through only for an entry older than that;
    every other change stays refused (by the ORM, and on PostgreSQL by the trigger)."""
    with transaction.atomic():
        ids = list(
            AuditEntry.objects.filter(at__lt=before)
            .order_by("at", "id")  # the log's index, read backwards: oldest first
            .select_for_update(skip_locked=True)  # two notifiers take different entries
            .values_list("pk", flat=True)[:limit]
        )
        if not ids:
            return 0
        # a plain queryset: AuditQuerySet refuses every delete
        past = models.QuerySet(model=AuditEntry).filter(pk__in=ids, at__lt=before)
        if connection.vendor != "postgresql":
            return past._raw_delete(connection.alias)
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config(%s, %s, true)", [HORIZON, before.isoformat()])
            deleted = past._raw_delete(connection.alias)
            # and gone at once, not at the end of an outer transaction this may run in
            cursor.execute("SELECT set_config(%s, '', true)", [HORIZON])
        return deleted
