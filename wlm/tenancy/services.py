"""Business rules of tenants and users: every write of this app goes through here."""

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from wlm.audit import services as audit
from wlm.lib.problems import save_unique
from wlm.tenancy.models import (
    Distributor,
    Membership,
    Organization,
    Partner,
    Role,
    TenantType,
    new_webhook_secret,
)
from wlm.tenancy.scoping import actor_of, require_managed

TENANT_MODELS = {
    TenantType.DISTRIBUTOR: Distributor,
    TenantType.PARTNER: Partner,
    TenantType.ORGANIZATION: Organization,
}
TENANT_TYPES = {model: tenant_type for tenant_type, model in TENANT_MODELS.items()}
TENANT_FIELDS = ("name", "email", "webhook_url", "language")


def holds_webhook_credentials(user, tenant) -> bool:
    """A tenant's webhook URL (receivers often take credentials in it) and signing
    secret are for the admins of that tenant and for staff admins; not for viewers,
    read-only staff, nor the tenants above or below it (a partner manages its
    organizations, but does not hold their credentials)."""
    return webhook_credentials_shown(actor_of(user), TENANT_TYPES[type(tenant)], tenant.pk)


def webhook_credentials_shown(actor, tenant_type: str, tenant_id: int | None) -> bool:
    """``holds_webhook_credentials`` for a tenant known by type and id (a delivery's)."""
    if not actor.is_admin:
        return False
    if actor.is_staff:
        return True
    return bool(tenant_type) and actor.tenant_type == tenant_type and actor.tenant_id == tenant_id


@transaction.atomic
def rotate_webhook_secret(user, tenant) -> str:
    """A new signing secret for the tenant's webhooks, the one moment it is shown: it is
    never read back. Webhooks sent from now on (retries too) are signed with it."""
    if not holds_webhook_credentials(user, tenant):
        raise PermissionDenied(
            _("Only the tenant's own admins and staff admins can rotate its webhook secret.")
        )
    secret = new_webhook_secret()
    type(tenant).objects.filter(pk=tenant.pk).update(webhook_secret=secret)
    tenant.webhook_secret = secret
    audit.record(
        audit.Kind.WEBHOOK_SECRET_ROTATED,
        obj=tenant,
        tenant=tenant,
        actor=user,
        before={"webhook_secret": audit.CHANGED},
        after={"webhook_secret": audit.CHANGED},
    )
    return secret


def _is_staff_admin(user) -> bool:
    """The platform operator's admins: what only the operator writes (distributors,
    partners, a partner's distributors, staff users) is refused to its viewers too, here
    and not only by the API's permission class."""
    actor = actor_of(user)
    return actor.is_staff and actor.is_admin


@transaction.atomic
def create_distributor(user, **fields) -> Distributor:
    if not _is_staff_admin(user):
        raise PermissionDenied(_("Only the platform operator creates distributors."))
    distributor = Distributor(**fields)
    save_unique(distributor)
    _record_created(user, distributor)
    return distributor


def _record_created(user, tenant) -> None:
    audit.record(
        audit.Kind.TENANT_CREATED,
        obj=tenant,
        tenant=tenant,
        actor=user,
        after=audit.snapshot(tenant, ["name", "email", "language", "partner", "distributors"])
        | {"webhook_url": audit.webhook_host(tenant.webhook_url)},
    )


@transaction.atomic
def create_partner(user, *, distributors, **fields) -> Partner:
    if not _is_staff_admin(user):
        raise PermissionDenied(_("Only the platform operator creates partners."))
    if not distributors:
        raise ValidationError(
            {"distributors": [_("A partner works with at least one distributor.")]}
        )
    partner = Partner(**fields)
    save_unique(partner)
    partner.distributors.set(distributors)
    _record_created(user, partner)
    return partner


@transaction.atomic
def create_organization(user, *, partner=None, **fields) -> Organization:
    """Staff name the partner; a partner admin creates organizations of its own."""
    actor = actor_of(user)
    if partner is None:
        if actor.tenant_type != TenantType.PARTNER:
            raise ValidationError({"partner": [_("This field is required.")]})
        partner = Partner.objects.get(pk=actor.tenant_id)
    require_managed(user, partner)
    organization = Organization(partner=partner, **fields)
    save_unique(organization, _duplicate_name(organization))
    _record_created(user, organization)
    return organization


def _duplicate_name(tenant) -> str | None:
    """An organization's name is unique per partner (the server sets the partner): say
    so. Django's own message fits the platform-wide names of the others."""
    if isinstance(tenant, Organization):
        return _("This partner already has an organization with that name.")
    return None


@transaction.atomic
def update_tenant(user, tenant, **fields):
    """Change a tenant's name, notice contacts and notice language (and a partner's
    distributors, staff only)."""
    require_managed(user, tenant)
    distributors = fields.pop("distributors", None)
    if "partner" in fields and fields["partner"] != getattr(tenant, "partner", None):
        raise ValidationError({"partner": [_("An organization cannot move to another partner.")]})
    fields.pop("partner", None)
    was = audit.snapshot(tenant, [*TENANT_FIELDS, "distributors"])
    changed = []
    for name, value in fields.items():
        if name not in TENANT_FIELDS:
            raise ValidationError({name: [_("This field cannot be changed.")]})
        if getattr(tenant, name) != value:
            changed.append(name)
        setattr(tenant, name, value)
    # Only what changes is judged: a stored webhook host that no longer resolves, or a
    # name stored before today's rules, does not block a change of the e-mail.
    unchanged = [field.name for field in tenant._meta.fields if field.name not in changed]
    tenant.full_clean(exclude=unchanged, validate_unique=False, validate_constraints=False)
    save_unique(tenant, _duplicate_name(tenant))
    if distributors is not None:
        if not _is_staff_admin(user):
            raise PermissionDenied(
                _("Only the platform operator changes a partner's distributors.")
            )
        if not distributors:
            raise ValidationError(
                {"distributors": [_("A partner works with at least one distributor.")]}
            )
        tenant.distributors.set(distributors)
    audit.record_changes(
        audit.Kind.TENANT_SETTINGS_CHANGED,
        obj=tenant,
        tenant=tenant,
        was=was,
        actor=user,
        redact=audit.TENANT_REDACTED,
    )
    return tenant


@transaction.atomic
def create_user(
    user,
    *,
    username: str,
    email: str,
    password: str,
    tenant_type: str,
    tenant_id: int | None,
    role: str,
    language: str = "en",
):
    """A user with its one membership. Admins create users of the tenants they manage."""
    if tenant_type == TenantType.STAFF:
        if not _is_staff_admin(user):
            raise PermissionDenied(_("Only the platform operator creates staff users."))
        if tenant_id is not None:
            raise ValidationError({"tenant_id": [_("Staff users have no tenant.")]})
        tenant = None
    else:
        if role == Role.GATEWAY:
            raise ValidationError({"role": [_("The gateway role is only for staff accounts.")]})
        if tenant_id is None:
            raise ValidationError({"tenant_id": [_("This field is required.")]})
        model = TENANT_MODELS[tenant_type]
        tenant = model.objects.visible_to(user).filter(pk=tenant_id).first()
        if tenant is None:
            raise ValidationError({"tenant_id": [_("No such tenant.")]})
        require_managed(user, tenant)

    User = get_user_model()
    if User.objects.filter(username__iexact=username).exists():
        raise ValidationError({"username": [_("This username is taken.")]})
    candidate = User(username=username, email=email)
    try:
        validate_password(password, candidate)
    except ValidationError as error:
        raise ValidationError({"password": error.messages}) from None
    try:
        with transaction.atomic():
            created = User.objects.create_user(username=username, email=email, password=password)
    except IntegrityError:  # a concurrent request took the name first
        raise ValidationError({"username": [_("This username is taken.")]}) from None
    membership = Membership.objects.create(
        user=created,
        tenant_type=tenant_type,
        role=role,
        language=language,
        **({tenant_type: tenant} if tenant is not None else {}),
    )
    audit.record(
        audit.Kind.USER_CREATED,
        obj=created,
        tenant=tenant,
        actor=user,
        after={"username": username, "email": email, "tenant_type": tenant_type, "role": role}
        | {"tenant": membership.tenant_id},
    )
    return created
