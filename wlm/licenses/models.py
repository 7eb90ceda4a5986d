"""The module catalogue, license requests, licenses, assignments and their history."""

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from wlm.lib import clock
from wlm.lib.migrations import trigram_index
from wlm.lib.validators import validate_one_line
from wlm.tenancy.models import TenantType
from wlm.tenancy.scoping import Actor, ScopedQuerySet, actor_of


class ModuleQuerySet(ScopedQuerySet):
    """The catalogue is readable by every tenant and managed by staff only."""

    def _visible_filter(self, actor: Actor):
        return Q()

    def _managed_filter(self, actor: Actor):
        return None


class Module(models.Model):
    """A platform module a license can enable. Data, not code (DESIGN §2)."""

    code = models.CharField(
        _("code"),
        max_length=40,
        primary_key=True,
        validators=[
            RegexValidator(r"^[a-z][a-z0-9_]*$", _("Use lowercase letters, digits and _."))
        ],
    )
    name = models.CharField(_("name"), max_length=100, validators=[validate_one_line])
    description = models.TextField(_("description"), blank=True)
    advanced = models.BooleanField(
        _("advanced"), default=True, help_text=_("Advanced modules are bought on top of the base.")
    )

    objects = ModuleQuerySet.as_manager()

    class Meta:
        verbose_name = _("module")
        verbose_name_plural = _("modules")
        ordering = ["advanced", "code"]

    def __str__(self) -> str:
        return self.name


class LicenseStatus(models.TextChoices):
    PENDING_PROVISION = "pending_provision", _("Pending Provision")
    PENDING_START = "pending_start", _("Pending Start")
    IN_USE = "in_use", _("In Use")
    ACCESS_DENIED = "access_denied", _("Access denied")
    CONTRACT_FINALIZED = "contract_finalized", _("Contract finalized")


# A license holds its locations (and limits them) while it is in one of these.
ACTIVE_STATUSES = (
    LicenseStatus.PENDING_START,
    LicenseStatus.IN_USE,
    LicenseStatus.ACCESS_DENIED,
)


class Payment(models.TextChoices):
    MONTHLY = "monthly", _("Monthly")
    ANNUAL = "annual", _("Annual")


class LicenseType(models.TextChoices):
    APS = "aps", _("Access points")
    ROOMS = "rooms", _("Rooms")


class StartMode(models.TextChoices):
    AUTOMATIC = "automatic", _("Automatic (device connections)")
    FIXED = "fixed", _("Fixed start date")


class RequestState(models.TextChoices):
    PENDING = "pending", _("Pending")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")


class RequestKind(models.TextChoices):
    """What a request asks for: a new license, or a change of an existing one."""

    NEW = "new", pgettext_lazy("request kind", "New license")
    RENEWAL = "renewal", pgettext_lazy("request kind", "Renewal")
    UPGRADE = "upgrade", pgettext_lazy("request kind", "Upgrade")


# the kinds that ask for a change of an existing license (``LicenseRequest.license``)
CHANGE_KINDS = (RequestKind.RENEWAL, RequestKind.UPGRADE)
YEARS_RANGE = Q(years__gte=1) & Q(years__lte=5)
# a CHECK passes on NULL ("unknown"): a column that may be NULL says it is not
SOME_YEARS = Q(years__isnull=False) & YEARS_RANGE


class LicenseRequestQuerySet(ScopedQuerySet):
    def _visible_filter(self, actor: Actor):
        if actor.tenant_type == TenantType.DISTRIBUTOR:
            return Q(distributor_id=actor.tenant_id)
        if actor.tenant_type == TenantType.PARTNER:
            return Q(partner_id=actor.tenant_id)
        if actor.tenant_type == TenantType.ORGANIZATION:
            return Q(location__organization_id=actor.tenant_id)
        return None

    def _managed_filter(self, actor: Actor):
        """Who decides (approve, reject): the distributor a request is addressed to."""
        if actor.tenant_type == TenantType.DISTRIBUTOR:
            return Q(distributor_id=actor.tenant_id)
        return None


class LicenseRequest(models.Model):
    """A partner asks a distributor for a license for one location (DESIGN §2), or the
    license's partner or organization asks for a renewal or an upgrade of an existing
    license (``kind``; docs/lifecycle.md, "Requests for an existing license").

    ``license`` is, for a new license, the license its approval generated; for a
    renewal or an upgrade, the license it is for (from the start). ``location``,
    ``partner`` and ``distributor`` of a change are the license's, so that the queue,
    its filters and the tenancy door read every kind alike. Which fields each kind
    holds is a check constraint per kind: a row the rules would refuse cannot be stored.
    """

    kind = models.CharField(
        _("kind"), max_length=10, choices=RequestKind.choices, default=RequestKind.NEW
    )
    location = models.ForeignKey(
        "locations.Location",
        on_delete=models.PROTECT,
        related_name="license_requests",
        verbose_name=_("location"),
    )
    partner = models.ForeignKey(
        "tenancy.Partner",
        on_delete=models.PROTECT,
        related_name="license_requests",
        verbose_name=_("partner"),
    )
    distributor = models.ForeignKey(
        "tenancy.Distributor",
        on_delete=models.PROTECT,
        related_name="license_requests",
        verbose_name=_("distributor"),
    )
    # a new license's term, or the years a renewal adds; none for an upgrade
    years = models.PositiveSmallIntegerField(_("years"), null=True, blank=True)
    # a new license's; "" for a change (the license keeps its own)
    payment = models.CharField(_("payment"), max_length=10, choices=Payment.choices, blank=True)
    # a new license's limit, or the limit an upgrade asks for (by the license's type)
    aps = models.PositiveIntegerField(_("access points"), null=True, blank=True)
    rooms = models.PositiveIntegerField(_("rooms"), null=True, blank=True)
    modules = models.ManyToManyField(Module, blank=True, verbose_name=_("modules"))
    # an upgrade's
    add_modules = models.ManyToManyField(
        Module, blank=True, related_name="requests_adding", verbose_name=_("modules to add")
    )
    remove_modules = models.ManyToManyField(
        Module, blank=True, related_name="requests_removing", verbose_name=_("modules to remove")
    )
    state = models.CharField(
        _("state"), max_length=10, choices=RequestState.choices, default=RequestState.PENDING
    )
    reason = models.TextField(_("reason"), blank=True)
    license = models.ForeignKey(
        "License",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="requests",
        verbose_name=_("license"),
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("requested by"),
    )
    created = models.DateTimeField(_("created"), default=clock.now)
    decided = models.DateTimeField(_("decided"), null=True, blank=True)

    objects = LicenseRequestQuerySet.as_manager()

    class Meta:
        verbose_name = _("license request")
        verbose_name_plural = _("license requests")
        ordering = ["-created", "-id"]
        constraints = [
            models.CheckConstraint(
                name="request_kind_known", condition=Q(kind__in=RequestKind.values)
            ),
            # a new license: its whole terms; its license once approved, and only then
            models.CheckConstraint(
                name="request_new_terms",
                condition=~Q(kind=RequestKind.NEW)
                | (
                    SOME_YEARS
                    & Q(payment__in=Payment.values)
                    & (
                        Q(aps__isnull=False, rooms__isnull=True)
                        | Q(aps__isnull=True, rooms__isnull=False)
                    )
                    & (
                        Q(state=RequestState.APPROVED, license__isnull=False)
                        | (~Q(state=RequestState.APPROVED) & Q(license__isnull=True))
                    )
                ),
            ),
            # a renewal: its license and the years it adds, nothing else
            models.CheckConstraint(
                name="request_renewal_terms",
                condition=~Q(kind=RequestKind.RENEWAL)
                | (
                    SOME_YEARS
                    & Q(payment="", aps__isnull=True, rooms__isnull=True, license__isnull=False)
                ),
            ),
            # an upgrade: its license and at most one limit (its type's), no term
            models.CheckConstraint(
                name="request_upgrade_terms",
                condition=~Q(kind=RequestKind.UPGRADE)
                | (
                    Q(years__isnull=True, payment="", license__isnull=False)
                    & (Q(aps__isnull=True) | Q(rooms__isnull=True))
                ),
            ),
            # an approved request generated its license: one request per license
            models.UniqueConstraint(
                fields=["license"],
                condition=Q(kind=RequestKind.NEW),
                name="request_new_license_once",
            ),
            # at most one pending renewal and one pending upgrade per license
            models.UniqueConstraint(
                fields=["license", "kind"],
                condition=Q(state=RequestState.PENDING, kind__in=CHANGE_KINDS),
                name="request_one_pending_change",
            ),
        ]
        indexes = [models.Index(fields=["distributor", "state"], name="request_queue_idx")]

    def __str__(self) -> str:
        return f"Request {self.pk} ({self.state})"

    @property
    def is_change(self) -> bool:
        """A renewal or an upgrade of an existing license (``license``)."""
        return self.kind in CHANGE_KINDS


class LicenseQuerySet(ScopedQuerySet):
    """A distributor sees its licenses, a partner those of its requests and customers,
    an organization its own (once provisioned).

    A partner's requests and its customers' licenses are one set, its ``partner``
    column: a license's partner is its location's organization's partner
    (``services.Terms.partner``), its key is sent only to a location of that
    organization (``lifecycle.provision``), a location never moves to another
    organization and an organization never to another partner
    (``tenancy.services.update_tenant``, ``locations.services.update_location``, both
    read-only in the admin). So the scope is one indexed column, not a join through the
    organizations (docs/performance.md, "The partner's dashboard on its own column").
    """

    def _visible_filter(self, actor: Actor):
        if actor.tenant_type == TenantType.DISTRIBUTOR:
            return Q(distributor_id=actor.tenant_id)
        if actor.tenant_type == TenantType.PARTNER:
            return Q(partner_id=actor.tenant_id)
        if actor.tenant_type == TenantType.ORGANIZATION:
            return Q(organization_id=actor.tenant_id)
        return None

    def _managed_filter(self, actor: Actor):
        """The licenses a tenant's admins may change (which changes: the lifecycle's
        table): a distributor its own; an organization those made for its locations,
        before it sees them too (Send Key activates the key); a partner none."""
        if actor.tenant_type == TenantType.DISTRIBUTOR:
            return Q(distributor_id=actor.tenant_id)
        if actor.tenant_type == TenantType.ORGANIZATION:
            return Q(organization_id=actor.tenant_id) | Q(
                organization__isnull=True, location__organization_id=actor.tenant_id
            )
        return None

    def changes_asked_by(self, user) -> ScopedQuerySet:
        """The licenses whose renewal or upgrade ``user`` may ask their distributor for:
        an admin of the license's partner or of its organization (once the key was
        sent), a staff admin any. Those who decide are the distributor's
        (``LicenseRequest.objects.managed_by``)."""
        condition = self._asked_filter(actor_of(user))
        return self.none() if condition is None else self.filter(condition)

    def may_ask_changes(self, user) -> bool:
        """Whether ``changes_asked_by(user)`` can hold licenses at all, without a query
        (the API's 403 before the body)."""
        return self._asked_filter(actor_of(user)) is not None

    def _asked_filter(self, actor: Actor) -> Q | None:
        if not actor.is_admin or actor.tenant_type is None:
            return None
        if actor.is_staff:
            return Q()
        if actor.tenant_type == TenantType.PARTNER:
            return Q(partner_id=actor.tenant_id)
        if actor.tenant_type == TenantType.ORGANIZATION:
            return Q(organization_id=actor.tenant_id)
        return None


class License(models.Model):
    """A license key and its contract. Status changes only through licenses.lifecycle."""

    key = models.CharField(_("license key"), max_length=29, unique=True, editable=False)
    organization = models.ForeignKey(
        "tenancy.Organization",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="licenses",
        verbose_name=_("organization"),
        help_text=_("Set when the key is activated (Send Key)."),
    )
    location = models.ForeignKey(
        "locations.Location",
        on_delete=models.PROTECT,
        related_name="intended_licenses",
        verbose_name=_("intended location"),
    )
    distributor = models.ForeignKey(
        "tenancy.Distributor",
        on_delete=models.PROTECT,
        related_name="licenses",
        verbose_name=_("distributor"),
    )
    partner = models.ForeignKey(
        "tenancy.Partner",
        on_delete=models.PROTECT,
        related_name="licenses",
        verbose_name=_("partner"),
    )
    years = models.PositiveSmallIntegerField(_("years"))
    payment = models.CharField(_("payment"), max_length=10, choices=Payment.choices)
    license_type = models.CharField(_("type"), max_length=5, choices=LicenseType.choices)
    limit = models.PositiveIntegerField(_("limit"))
    modules = models.ManyToManyField(
        Module, blank=True, related_name="licenses", verbose_name=_("modules")
    )
    start_mode = models.CharField(
        _("start mode"), max_length=10, choices=StartMode.choices, default=StartMode.AUTOMATIC
    )
    fixed_start = models.DateField(_("fixed start date"), null=True, blank=True)
    status = models.CharField(
        _("status"),
        max_length=20,
        choices=LicenseStatus.choices,
        default=LicenseStatus.PENDING_PROVISION,
        editable=False,
    )
    status_before_denial = models.CharField(
        max_length=20,
        choices=LicenseStatus.choices,
        blank=True,
        editable=False,
        verbose_name=_("status before denial"),
    )
    timezone = models.CharField(
        _("time zone"),
        max_length=64,
        editable=False,
        help_text=_("That of its first assigned location: the end date is reached there."),
    )
    created = models.DateTimeField(_("created"), default=clock.now, editable=False)
    provisioned = models.DateTimeField(_("provisioned"), null=True, blank=True, editable=False)
    start_date = models.DateField(_("start date"), null=True, blank=True, editable=False)
    end_date = models.DateField(_("end date"), null=True, blank=True, editable=False)

    objects = LicenseQuerySet.as_manager()

    class Meta:
        verbose_name = _("license")
        verbose_name_plural = _("licenses")
        ordering = ["-created", "-id"]
        constraints = [
            models.CheckConstraint(name="license_years_1_to_5", condition=YEARS_RANGE),
            models.CheckConstraint(
                name="license_fixed_start_has_date",
                condition=~Q(start_mode=StartMode.FIXED) | Q(fixed_start__isnull=False),
            ),
            models.CheckConstraint(
                name="license_provisioned_has_organization",
                condition=Q(status=LicenseStatus.PENDING_PROVISION)
                | Q(status=LicenseStatus.CONTRACT_FINALIZED, provisioned__isnull=True)
                | Q(organization__isnull=False, provisioned__isnull=False),
            ),
            models.CheckConstraint(
                name="license_dates_ordered",
                condition=Q(start_date__isnull=True) | Q(end_date__gt=models.F("start_date")),
            ),
        ]
        indexes = [
            models.Index(fields=["status", "end_date"], name="license_status_end_idx"),
            # a tenant's licenses by status, and by end date within one (the dashboard's
            # counts read these alone)
            models.Index(
                fields=["distributor", "status", "end_date"], name="license_distributor_idx"
            ),
            models.Index(fields=["partner", "status", "end_date"], name="license_partner_idx"),
            models.Index(
                fields=["organization", "status", "end_date"], name="license_organization_idx"
            ),
            # ``q`` (``UPPER(key::text) LIKE``): a trigram index, PostgreSQL only
            trigram_index("key", "license_key_trgm"),
        ]

    def __str__(self) -> str:
        return self.key

    @property
    def aps(self) -> int | None:
        """The access-point limit, for a license of that type."""
        return self.limit if self.license_type == LicenseType.APS else None

    @property
    def rooms(self) -> int | None:
        """The room limit, for a license of that type (hospitality)."""
        return self.limit if self.license_type == LicenseType.ROOMS else None


class Assignment(models.Model):
    """A license assigned to a location of its organization; its limit counts them all."""

    license = models.ForeignKey(
        License, on_delete=models.CASCADE, related_name="assignments", verbose_name=_("license")
    )
    location = models.ForeignKey(
        "locations.Location",
        on_delete=models.PROTECT,
        related_name="assignments",
        verbose_name=_("location"),
    )
    created = models.DateTimeField(_("assigned"), default=clock.now)

    class Meta:
        verbose_name = _("assignment")
        verbose_name_plural = _("assignments")
        ordering = ["created", "id"]
        constraints = [
            models.UniqueConstraint(fields=["license", "location"], name="assignment_unique")
        ]
        # a location's license (the rule in ``wlm.licenses.current``): its assignments,
        # latest first, without reading the table
        indexes = [
            models.Index(fields=["location", "created", "license"], name="assignment_location_idx")
        ]

    def __str__(self) -> str:
        return f"{self.license_id} @ {self.location_id}"


def _tenant_copy(model: str, verbose_name) -> models.ForeignKey:
    """A copy of one of the license's tenants on ``CurrentLicense``. No foreign key
    constraint (a copy's check would lock the tenant's row in every refresh: the
    license's own keep the tenants, PROTECTed, and ``current.stale`` checks the copies)
    and no index of its own (the ``(tenant, status)`` ones)."""
    return models.ForeignKey(
        model,
        null=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="+",
        editable=False,
        verbose_name=verbose_name,
    )


class CurrentLicense(models.Model):
    """ "The location's license", stored: one row per location that has had one. The
    one answer every reader uses (the entitlement, the locations list, the connection
    intake); the license's status and dates are read from the license itself.

    ``status`` and ``end_date`` copy the license's (NULL without one) for the locations
    list only: it filters and sorts by them from an index (docs/performance.md); what it
    shows, and every other reader, reads the license. ``distributor``, ``partner`` and
    ``organization`` copy the license's tenants, so the list's filter on the license's
    status passes the license's tenancy door on these rows alone
    (``locations.queries.license_condition``), from the ``(tenant, status)`` indexes.

    Written only by ``wlm.licenses.current`` (where the rule lives), in the transaction
    of every change that can move it or change its copies: ``lifecycle.apply_change``
    and ``lifecycle.created`` call it (docs/lifecycle.md).
    """

    location = models.OneToOneField(
        "locations.Location",
        primary_key=True,
        on_delete=models.CASCADE,
        related_name="current",
        verbose_name=_("location"),
    )
    license = models.ForeignKey(
        License, null=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("license")
    )
    # copies of the license's (written by ``current.refresh``), for the list;
    # NULL without a license, as the list's masked columns (not "": no such status)
    status = models.CharField(  # noqa: DJ001
        _("status"), max_length=20, choices=LicenseStatus.choices, null=True, editable=False
    )
    end_date = models.DateField(_("end date"), null=True, editable=False)
    # the license's tenants, copied with its status (``_tenant_copy``)
    distributor = _tenant_copy("tenancy.Distributor", _("distributor"))
    partner = _tenant_copy("tenancy.Partner", _("partner"))
    organization = _tenant_copy("tenancy.Organization", _("organization"))

    class Meta:
        verbose_name = _("current license")
        verbose_name_plural = _("current licenses")
        indexes = [
            models.Index(fields=[tenant, "status"], name=f"current_{tenant}_idx")
            for tenant in ("distributor", "partner", "organization")
        ]

    def __str__(self) -> str:
        return f"{self.location_id}: {self.license_id}"


class SignedLicense(models.Model):
    """The license's latest signed token (wlm.licenses.tokens): its terms as issued,
    re-issued whenever they change. A table of its own, so that the license rows the
    lists read stay narrow."""

    license = models.OneToOneField(
        License,
        primary_key=True,
        on_delete=models.CASCADE,
        related_name="signed",
        verbose_name=_("license"),
    )
    token = models.TextField(_("token"))
    issued = models.DateTimeField(_("issued"))

    class Meta:
        verbose_name = _("signed license")
        verbose_name_plural = _("signed licenses")

    def __str__(self) -> str:
        return f"{self.license_id} @ {self.issued:%Y-%m-%d %H:%M}"


class EventKind(models.TextChoices):
    CREATED = "created", _("Created")
    PROVISIONED = "provisioned", _("Provisioned (Send Key)")
    STARTED = "started", _("Started")
    ASSIGNED = "assigned", _("Location assigned")
    UNASSIGNED = "unassigned", _("Location unassigned")
    UPGRADED = "upgraded", _("Limits or modules changed")
    RENEWED = "renewed", _("Renewed")
    DENIED = "denied", _("Access denied")
    RESTORED = "restored", _("Access restored")
    CANCELLED = "cancelled", _("Cancelled")
    CUT_OFF = "cut_off", _("Contract finalized (end date reached)")


class LicenseEvent(models.Model):
    """One change of a license (the "Upgrades" tab). Append-only."""

    license = models.ForeignKey(
        License, on_delete=models.CASCADE, related_name="events", verbose_name=_("license")
    )
    at = models.DateTimeField(_("time"), default=clock.now)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("actor"),
    )
    actor_name = models.CharField(_("actor"), max_length=150)
    kind = models.CharField(_("kind"), max_length=20, choices=EventKind.choices)
    reason = models.TextField(_("reason"), blank=True)
    before = models.JSONField(_("before"), default=dict, blank=True)
    after = models.JSONField(_("after"), default=dict, blank=True)

    class Meta:
        verbose_name = _("license event")
        verbose_name_plural = _("license events")
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["license", "at"], name="event_license_at_idx")]

    def __str__(self) -> str:
        return f"{self.license_id} {self.kind} at {self.at:%Y-%m-%d %H:%M}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise TypeError("License events are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise TypeError("License events are append-only.")


# --- Bulk work on the licenses list (wlm.licenses.bulk) ---------------------------------


class BulkAction(models.TextChoices):
    """The lifecycle changes the licenses list applies to many licenses at once."""

    RENEW = "renew", _("Renew")
    DENY = "deny", _("Deny access")
    RESTORE = "restore", _("Restore access")
    CANCEL = "cancel", _("Cancel")


class BulkJobState(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    FINISHED = "finished", _("Finished")


class BulkOutcome(models.TextChoices):
    PENDING = "pending", _("Pending")
    DONE = "done", _("Done")
    REFUSED = "refused", _("Refused")


class BulkJobQuerySet(ScopedQuerySet):
    """A bulk job is its owner's; staff (who see every license) see every job, read only."""

    def visible_to(self, user, *, data_plane: bool = False) -> ScopedQuerySet:
        actor = actor_of(user)
        if actor.user_id is None or actor.tenant_type is None or actor.is_gateway:
            return self.none()
        if actor.is_staff:
            return self.all()
        return self.filter(owner_id=actor.user_id)

    def _visible_filter(self, actor: Actor):
        return None

    def _managed_filter(self, actor: Actor):
        return None


class BulkJob(models.Model):
    """One bulk change asked for on the licenses list: the action and its parameters, the
    licenses frozen at confirmation (its items), and how far it got. Worked on item by item
    by the notifier (or at once for a small selection), each license through the same
    lifecycle function as the single action, as its owner."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="bulk_jobs",
        verbose_name=_("owner"),
    )
    action = models.CharField(_("action"), max_length=10, choices=BulkAction.choices)
    years = models.PositiveSmallIntegerField(_("years"), null=True, blank=True)
    reason = models.TextField(_("reason"), blank=True)
    filters = models.TextField(
        _("filters"),
        blank=True,
        help_text=_("The list's filters, when all the licenses matching them were chosen."),
    )
    state = models.CharField(
        _("state"), max_length=10, choices=BulkJobState.choices, default=BulkJobState.QUEUED
    )
    total = models.PositiveIntegerField(_("licenses"))
    done = models.PositiveIntegerField(_("done"), default=0)
    refused = models.PositiveIntegerField(_("refused"), default=0)
    created = models.DateTimeField(_("created"), default=clock.now)
    started = models.DateTimeField(_("started"), null=True, blank=True)
    finished = models.DateTimeField(_("finished"), null=True, blank=True)

    objects = BulkJobQuerySet.as_manager()

    class Meta:
        verbose_name = _("bulk job")
        verbose_name_plural = _("bulk jobs")
        ordering = ["-created", "-id"]
        constraints = [
            models.CheckConstraint(
                name="bulk_job_years_for_renewal",
                condition=Q(action=BulkAction.RENEW, years__gte=1, years__lte=5)
                | (~Q(action=BulkAction.RENEW) & Q(years__isnull=True)),
            ),
            models.CheckConstraint(
                name="bulk_job_counts_within_total",
                condition=Q(done__lte=models.F("total") - models.F("refused")),
            ),
        ]
        indexes = [models.Index(fields=["owner", "created"], name="bulk_job_owner_idx")]

    def __str__(self) -> str:
        return f"Bulk {self.action} #{self.pk} ({self.state})"

    @property
    def processed(self) -> int:
        return self.done + self.refused

    @property
    def is_finished(self) -> bool:
        return self.state == BulkJobState.FINISHED


class BulkJobItem(models.Model):
    """One license of a bulk job: pending until the worker applied the action (done) or
    the lifecycle refused it (refused, with its message); the change and the outcome are
    committed together, so a job interrupted by a crash resumes with the pending ones."""

    job = models.ForeignKey(
        BulkJob, on_delete=models.CASCADE, related_name="items", verbose_name=_("bulk job")
    )
    license = models.ForeignKey(
        License, on_delete=models.CASCADE, related_name="+", verbose_name=_("license")
    )
    outcome = models.CharField(
        _("outcome"), max_length=10, choices=BulkOutcome.choices, default=BulkOutcome.PENDING
    )
    message = models.TextField(_("message"), blank=True)
    finished = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        verbose_name = _("bulk job item")
        verbose_name_plural = _("bulk job items")
        ordering = ["job", "id"]
        constraints = [
            models.UniqueConstraint(fields=["job", "license"], name="bulk_item_once_per_job")
        ]
        indexes = [
            # the results page and its counts, by outcome, in the job's order
            models.Index(fields=["job", "outcome", "id"], name="bulk_item_outcome_idx"),
            # the worker's claim: the pending items, oldest job first
            models.Index(
                fields=["id"],
                condition=Q(outcome=BulkOutcome.PENDING),
                name="bulk_item_pending_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.job_id}/{self.license_id} {self.outcome}"
