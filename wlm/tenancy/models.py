"""Tenants (distributors, partners, organizations) and the membership of each user.

Every user belongs to exactly one tenant with one role (DESIGN §1). Staff have the
tenant type ``staff`` and no tenant row; the data plane's account is a staff
membership with the ``gateway`` role.
"""

import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from wlm.lib import clock
from wlm.lib.migrations import folded_trigram_index
from wlm.lib.outbound import validate_public_http_url
from wlm.lib.validators import validate_one_line
from wlm.tenancy.scoping import ScopedQuerySet


class TenantType(models.TextChoices):
    STAFF = "staff", _("Platform operator")
    DISTRIBUTOR = "distributor", _("Distributor")
    PARTNER = "partner", _("Partner")
    ORGANIZATION = "organization", _("Organization")


class Role(models.TextChoices):
    ADMIN = "admin", _("Administrator")
    VIEWER = "viewer", _("Viewer")
    GATEWAY = "gateway", _("Gateway (data plane)")


# The languages notices are written in (e-mail and inbox); the rest falls back to English.
NOTICE_LANGUAGES = [("en", _("English")), ("es", _("Spanish"))]


def new_webhook_secret() -> str:
    return secrets.token_hex(32)


class Tenant(models.Model):
    """What every tenant has: a name and its notice contacts."""

    name = models.CharField(_("name"), max_length=200, validators=[validate_one_line])
    email = models.EmailField(
        _("notice e-mail"), blank=True, help_text=_("Expiry notices are sent to this address.")
    )
    webhook_url = models.URLField(
        _("webhook URL"),
        blank=True,
        validators=[validate_public_http_url],  # http(s) to a public address (SSRF)
        help_text=_("Receives signed notice webhooks (http or https, a public address)."),
    )
    webhook_secret = models.CharField(
        _("webhook signing secret"),
        max_length=64,
        default=new_webhook_secret,
        editable=False,
        help_text=_("Webhooks to this tenant are signed with it (HMAC-SHA256)."),
    )
    language = models.CharField(
        _("notice language"), max_length=8, choices=NOTICE_LANGUAGES, default="en"
    )
    created = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        abstract = True
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class DistributorQuerySet(ScopedQuerySet):
    def _visible_filter(self, actor):
        if actor.tenant_type == TenantType.DISTRIBUTOR:
            return Q(pk=actor.tenant_id)
        if actor.tenant_type == TenantType.PARTNER:
            return Q(
                pk__in=Partner.distributors.through.objects.filter(
                    partner_id=actor.tenant_id
                ).values("distributor_id")
            )
        if actor.tenant_type == TenantType.ORGANIZATION:
            return Q(
                pk__in=Partner.distributors.through.objects.filter(
                    partner__organizations=actor.tenant_id
                ).values("distributor_id")
            )
        return None

    def _managed_filter(self, actor):
        if actor.tenant_type == TenantType.DISTRIBUTOR:
            return Q(pk=actor.tenant_id)
        return None


class Distributor(Tenant):
    objects = DistributorQuerySet.as_manager()

    class Meta(Tenant.Meta):
        verbose_name = _("distributor")
        verbose_name_plural = _("distributors")
        constraints = [models.UniqueConstraint(fields=["name"], name="distributor_name_unique")]


class PartnerQuerySet(ScopedQuerySet):
    def _visible_filter(self, actor):
        if actor.tenant_type == TenantType.DISTRIBUTOR:
            return Q(
                pk__in=Partner.distributors.through.objects.filter(
                    distributor_id=actor.tenant_id
                ).values("partner_id")
            )
        if actor.tenant_type == TenantType.PARTNER:
            return Q(pk=actor.tenant_id)
        if actor.tenant_type == TenantType.ORGANIZATION:
            # a subquery, not a join through organizations (one row per partner)
            return Q(pk__in=Organization.objects.filter(pk=actor.tenant_id).values("partner_id"))
        return None

    def _managed_filter(self, actor):
        if actor.tenant_type == TenantType.PARTNER:
            return Q(pk=actor.tenant_id)
        return None


class Partner(Tenant):
    distributors = models.ManyToManyField(
        Distributor, related_name="partners", verbose_name=_("distributors")
    )

    objects = PartnerQuerySet.as_manager()

    class Meta(Tenant.Meta):
        verbose_name = _("partner")
        verbose_name_plural = _("partners")
        constraints = [models.UniqueConstraint(fields=["name"], name="partner_name_unique")]


class OrganizationQuerySet(ScopedQuerySet):
    def _visible_filter(self, actor):
        if actor.tenant_type == TenantType.DISTRIBUTOR:
            return Q(
                partner__in=Partner.distributors.through.objects.filter(
                    distributor_id=actor.tenant_id
                ).values("partner_id")
            )
        if actor.tenant_type == TenantType.PARTNER:
            return Q(partner_id=actor.tenant_id)
        if actor.tenant_type == TenantType.ORGANIZATION:
            return Q(pk=actor.tenant_id)
        return None

    def _managed_filter(self, actor):
        if actor.tenant_type == TenantType.PARTNER:
            return Q(partner_id=actor.tenant_id)
        if actor.tenant_type == TenantType.ORGANIZATION:
            return Q(pk=actor.tenant_id)
        return None


class Organization(Tenant):
    partner = models.ForeignKey(
        Partner, on_delete=models.PROTECT, related_name="organizations", verbose_name=_("partner")
    )

    objects = OrganizationQuerySet.as_manager()

    class Meta(Tenant.Meta):
        verbose_name = _("organization")
        verbose_name_plural = _("organizations")
        constraints = [
            models.UniqueConstraint(fields=["partner", "name"], name="organization_name_unique")
        ]
        indexes = [
            # ``q`` of the licenses and locations lists: a trigram index, PostgreSQL only
            folded_trigram_index("name", "organization_name_fold_trgm"),
        ]


class MembershipQuerySet(ScopedQuerySet):
    def _visible_filter(self, actor):
        return self._managed_filter(actor)

    def _managed_filter(self, actor):
        if actor.tenant_type == TenantType.DISTRIBUTOR:
            return Q(distributor_id=actor.tenant_id)
        if actor.tenant_type == TenantType.PARTNER:
            return Q(partner_id=actor.tenant_id) | Q(organization__partner_id=actor.tenant_id)
        if actor.tenant_type == TenantType.ORGANIZATION:
            return Q(organization_id=actor.tenant_id)
        return None


class Membership(models.Model):
    """The one tenant and role of a user. The check constraint keeps it coherent."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="membership",
        verbose_name=_("user"),
    )
    tenant_type = models.CharField(_("tenant type"), max_length=20, choices=TenantType.choices)
    distributor = models.ForeignKey(
        Distributor,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="memberships",
        verbose_name=_("distributor"),
    )
    partner = models.ForeignKey(
        Partner,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="memberships",
        verbose_name=_("partner"),
    )
    organization = models.ForeignKey(
        Organization,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="memberships",
        verbose_name=_("organization"),
    )
    role = models.CharField(_("role"), max_length=10, choices=Role.choices)
    language = models.CharField(_("language"), max_length=8, choices=NOTICE_LANGUAGES, default="en")

    objects = MembershipQuerySet.as_manager()

    class Meta:
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        constraints = [
            models.CheckConstraint(
                name="membership_tenant_matches_type",
                condition=(
                    Q(
                        tenant_type=TenantType.STAFF,
                        distributor__isnull=True,
                        partner__isnull=True,
                        organization__isnull=True,
                    )
                    | Q(
                        tenant_type=TenantType.DISTRIBUTOR,
                        distributor__isnull=False,
                        partner__isnull=True,
                        organization__isnull=True,
                    )
                    | Q(
                        tenant_type=TenantType.PARTNER,
                        distributor__isnull=True,
                        partner__isnull=False,
                        organization__isnull=True,
                    )
                    | Q(
                        tenant_type=TenantType.ORGANIZATION,
                        distributor__isnull=True,
                        partner__isnull=True,
                        organization__isnull=False,
                    )
                ),
            ),
            models.CheckConstraint(
                name="membership_gateway_is_staff",
                condition=~Q(role=Role.GATEWAY) | Q(tenant_type=TenantType.STAFF),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} ({self.tenant_type}, {self.role})"

    @property
    def tenant_id(self) -> int | None:
        return self.distributor_id or self.partner_id or self.organization_id

    @property
    def tenant(self):
        return self.distributor or self.partner or self.organization


class SavedList(models.TextChoices):
    """The lists whose filters a user can save by name (``SavedView``)."""

    LICENSES = "licenses", _("Licenses")
    LOCATIONS = "locations", _("Locations")
    REQUESTS = "requests", _("License requests")


class SavedViewQuerySet(models.QuerySet):
    def visible_to(self, user) -> models.QuerySet:
        """A user's own views, and nobody else's: a view is personal, not a tenant's row,
        so staff and the user's own admins see only theirs too."""
        if user is None or not user.is_authenticated:
            return self.none()
        return self.filter(owner_id=user.pk)


class SavedView(models.Model):
    """A list's filters, named by the user who saved them (the "Views" menu of the
    licenses, locations and requests pages; docs/pages.md, "Lists and exports").

    ``query`` is the list's query string, checked by the list's FilterSet when saved
    (``wlm.lib.saved_views``); a name is unique per user and list (the constraint)."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="saved_views",
        verbose_name=_("owner"),
    )
    list_name = models.CharField(_("list"), max_length=20, choices=SavedList.choices)
    name = models.CharField(_("name"), max_length=100, validators=[validate_one_line])
    query = models.CharField(_("filters"), max_length=2000, blank=True)
    created = models.DateTimeField(_("created"), default=clock.now, editable=False)

    objects = SavedViewQuerySet.as_manager()

    class Meta:
        verbose_name = _("saved view")
        verbose_name_plural = _("saved views")
        ordering = ["name", "id"]
        constraints = [
            # also the index of a list's menu: a user's views of one list, by name
            models.UniqueConstraint(fields=["owner", "list_name", "name"], name="saved_view_unique")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.list_name})"


class TokenScope(models.TextChoices):
    """What an API token may do within its user's rights: ``read`` is refused every unsafe
    method (403), ``write`` has the user's full rights. A gateway's token keeps the
    gateway role's own rights either way (only the data plane's endpoints)."""

    READ = "read", _("Read only")
    WRITE = "write", _("Read and write")


class ApiTokenQuerySet(models.QuerySet):
    """The tenancy door of tokens (docs/tenancy.md): a user sees their own; staff see
    every token; a tenant's admin sees the tokens of the users they manage
    (``Membership.objects.managed_by``). Revoking follows ``managed_by``: one's own, and
    an admin's users' (staff admins: any)."""

    def _door(self, user, *, manage: bool) -> models.QuerySet:
        from wlm.tenancy.scoping import actor_of

        actor = actor_of(user)
        if actor.user_id is None or actor.tenant_type is None:
            return self.none()
        if actor.is_staff and (actor.is_admin or not manage):
            return self.all()
        own = Q(user_id=actor.user_id)
        if actor.is_gateway or not actor.is_admin:
            return self.filter(own)
        managed = Membership.objects.managed_by(user).values("user_id")
        return self.filter(own | Q(user_id__in=managed))

    def visible_to(self, user) -> models.QuerySet:
        return self._door(user, manage=False)

    def managed_by(self, user) -> models.QuerySet:
        return self._door(user, manage=True)

    def active_at(self, moment) -> models.QuerySet:
        return self.filter(revoked__isnull=True).filter(
            Q(expires__isnull=True) | Q(expires__gt=moment)
        )


class ApiToken(models.Model):
    """A named API token of a user (docs/api.md, "Authentication"; wlm.tenancy.tokens).

    The secret is shown once, when the token is made, and never stored: ``prefix`` (its
    first characters, also shown to tell tokens apart) finds the row, ``digest`` (its
    SHA-256) is compared in constant time. ``last_used`` is written at most once a
    minute; a revoked token keeps its row (who had what, and when it ended)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="api_tokens",
        verbose_name=_("user"),
    )
    name = models.CharField(_("name"), max_length=100, validators=[validate_one_line])
    scope = models.CharField(
        _("scope"), max_length=10, choices=TokenScope.choices, default=TokenScope.WRITE
    )
    prefix = models.CharField(_("prefix"), max_length=12, editable=False)
    digest = models.CharField(max_length=64, editable=False)
    created = models.DateTimeField(_("created"), default=clock.now, editable=False)
    expires = models.DateTimeField(_("expires"), null=True, blank=True)
    last_used = models.DateTimeField(_("last used"), null=True, blank=True, editable=False)
    revoked = models.DateTimeField(_("revoked"), null=True, blank=True, editable=False)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")
        ordering = ["-created", "-id"]
        indexes = [models.Index(fields=["prefix"], name="api_token_prefix")]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    def state_at(self, moment) -> str:
        if self.revoked is not None:
            return "revoked"
        if self.expires is not None and self.expires <= moment:
            return "expired"
        return "active"
