"""``?format=csv`` of the tenants and users lists (docs/api.md, "CSV columns"): the JSON
row's columns in its order, written as the JSON rows write them, then the names, ids and
labels, each in its own column. Written from ``values()`` rows by ``wlm.lib.csv.Export``
(no serializer, no model instances), from the very queryset the JSON list reads (the
tenancy door, the FilterSet, the ordering).

What the JSON rows show by reader is shown the same way here: a tenant's
``webhook_url`` only to that tenant's own admins and staff admins
(``services.webhook_credentials_shown``), the name of a partner's distributor only where
the reader sees that distributor (a distributor reading a partner does not learn the
names of the partner's other distributors). So the exports are made per request.
"""

from __future__ import annotations

from django.contrib.auth.hashers import is_password_usable
from django.db.models import Case, F, QuerySet, Value, When

from wlm.lib.csv import Column, DateTime, Export, Label, Many, Related
from wlm.tenancy.models import (
    NOTICE_LANGUAGES,
    Distributor,
    Organization,
    Partner,
    Role,
    TenantType,
)
from wlm.tenancy.scoping import actor_of
from wlm.tenancy.services import TENANT_TYPES, webhook_credentials_shown


def _webhook_url(user, model) -> Column:
    """``webhook_url`` as the JSON row writes it: empty for a reader who does not hold
    the tenant's credentials."""
    actor, tenant_type = actor_of(user), TENANT_TYPES[model]

    def write(pk_and_url: tuple):
        pk, url = pk_and_url
        return url if webhook_credentials_shown(actor, tenant_type, pk) else None

    return Column("webhook_url", ("pk", "webhook_url"), write)


def _tenant_columns(user, model) -> list[Column]:
    return [
        Column("id"),
        Column("name"),
        Column("email"),
        _webhook_url(user, model),
        Column("language"),
    ]


def distributor_export(user) -> Export:
    return Export(
        [
            *_tenant_columns(user, Distributor),
            DateTime("created"),
            Label("language_label", "language", NOTICE_LANGUAGES),
        ]
    )


# a partner's distributors by name, as the JSON row lists their ids: columns of the one
# join that ``partners_for_csv`` makes (a ``distributors`` filter of the list joins again)
_DISTRIBUTORS = Related("distributor_key", ("distributor_sort_name", "distributor_key"))


def partners_for_csv(partners: QuerySet, user) -> QuerySet:
    """The partners joined with their distributors: ``distributor_key`` (its id),
    ``distributor_sort_name`` and ``shown_distributor_name``, its name where ``user``
    sees that distributor, else empty."""
    name = F("distributors__name")
    if not actor_of(user).is_staff:
        seen = Distributor.objects.visible_to(user).values("pk")
        name = Case(When(distributors__in=seen, then=name), default=Value(""))
    return partners.annotate(
        distributor_key=F("distributors__id"),
        distributor_sort_name=F("distributors__name"),
        shown_distributor_name=name,
    )


def partner_export(user) -> Export:
    """Rows from ``partners_for_csv``."""
    return Export(
        [
            *_tenant_columns(user, Partner),
            Many("distributors", _DISTRIBUTORS, "distributor_key"),
            DateTime("created"),
            # a distributor the reader does not see is an empty name between the ';'
            Many("distributor_names", _DISTRIBUTORS, "shown_distributor_name"),
            Label("language_label", "language", NOTICE_LANGUAGES),
        ]
    )


def organization_export(user) -> Export:
    return Export(
        [
            *_tenant_columns(user, Organization),
            Column("partner", "partner_id"),
            DateTime("created"),
            Column("partner_name", "partner__name"),
            Label("language_label", "language", NOTICE_LANGUAGES),
        ]
    )


# --- Users ---------------------------------------------------------------------------

# a user's tenant: the one of the membership's three keys that is set (none for staff)
_TENANT_IDS = (
    "membership__distributor_id",
    "membership__partner_id",
    "membership__organization_id",
)
_TENANT_NAMES = (
    "membership__distributor__name",
    "membership__partner__name",
    "membership__organization__name",
)


def _first(values: tuple):
    return next((value for value in values if value is not None), None)


class MembershipColumn(Column):
    """A column of the user's membership, read with ``is_superuser``: a user without one
    is written as the JSON row writes it (a bare superuser acts as a staff admin; the
    language is English), as the value or, with ``choices``, as its label in the
    reader's language."""

    def __init__(self, header: str, field: str, superuser, default=None, choices=None):
        super().__init__(header, (f"membership__{field}", "is_superuser"))
        self.superuser, self.default, self.choices = superuser, default, choices

    def writer(self):
        labels = None
        if self.choices is not None:
            labels = {value: str(label) for value, label in self.choices}  # translated now

        def write(value_and_superuser: tuple):
            value, is_superuser = value_and_superuser
            if value is None:
                value = self.superuser if is_superuser else self.default
            return value if labels is None else labels.get(value)

        return write


def _invitation_pending(password_and_last_login: tuple) -> bool:
    """``services.invitation_pending`` of a row (the hash is read, never written)."""
    password, last_login = password_and_last_login
    return not is_password_usable(password) and last_login is None


# the users list's CSV: the JSON row's ``id, username, email, tenant_type, tenant_id,
# role, language, is_active, invitation_pending``, then ``tenant_name`` and the labels
USER_CSV = Export(
    [
        Column("id"),
        Column("username"),
        Column("email"),
        MembershipColumn("tenant_type", "tenant_type", TenantType.STAFF),
        Column("tenant_id", _TENANT_IDS, _first),
        MembershipColumn("role", "role", Role.ADMIN),
        MembershipColumn("language", "language", "en", "en"),
        Column("is_active"),
        Column("invitation_pending", ("password", "last_login"), _invitation_pending),
        Column("tenant_name", _TENANT_NAMES, _first),
        MembershipColumn(
            "tenant_type_label", "tenant_type", TenantType.STAFF, None, TenantType.choices
        ),
        MembershipColumn("role_label", "role", Role.ADMIN, None, Role.choices),
        MembershipColumn("language_label", "language", "en", "en", NOTICE_LANGUAGES),
    ]
)
