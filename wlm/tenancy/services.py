"""Business rules of tenants and users: every write of this app goes through here."""

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from wlm.tenancy.models import (
    Distributor,
    Membership,
    Organization,
    Partner,
    Role,
    TenantType,
)
from wlm.tenancy.scoping import actor_of, require_managed

TENANT_MODELS = {
    TenantType.DISTRIBUTOR: Distributor,
    TenantType.PARTNER: Partner,
    TenantType.ORGANIZATION: Organization,
}
TENANT_FIELDS = ("name", "email", "webhook_url", "language")


def create_distributor(user, **fields) -> Distributor:
    if not actor_of(user).is_staff:
        raise PermissionDenied(_("Only the platform operator creates distributors."))
    return Distributor.objects.create(**fields)


@transaction.atomic
def create_partner(user, *, distributors, **fields) -> Partner:
    if not actor_of(user).is_staff:
        raise PermissionDenied(_("Only the platform operator creates partners."))
    if not distributors:
        raise ValidationError(
            {"distributors": [_("A partner works with at least one distributor.")]}
        )
    partner = Partner.objects.create(**fields)
    partner.distributors.set(distributors)
    return partner


def create_organization(user, *, partner=None, **fields) -> Organization:
    """Staff name the partner; a partner admin creates organizations of its own."""
    actor = actor_of(user)
    if partner is None:
        if actor.tenant_type != TenantType.PARTNER:
            raise ValidationError({"partner": [_("This field is required.")]})
        partner = Partner.objects.get(pk=actor.tenant_id)
    require_managed(user, partner)
    return Organization.objects.create(partner=partner, **fields)


@transaction.atomic
def update_tenant(user, tenant, **fields):
    """Change a tenant's name, notice contacts and notice language (and a partner's
    distributors, staff only)."""
    require_managed(user, tenant)
    distributors = fields.pop("distributors", None)
    if "partner" in fields and fields["partner"] != getattr(tenant, "partner", None):
        raise ValidationError({"partner": [_("An organization cannot move to another partner.")]})
    fields.pop("partner", None)
    for name, value in fields.items():
        if name not in TENANT_FIELDS:
            raise ValidationError({name: [_("This field cannot be changed.")]})
        setattr(tenant, name, value)
    tenant.full_clean()
    tenant.save()
    if distributors is not None:
        if not actor_of(user).is_staff:
            raise PermissionDenied(
                _("Only the platform operator changes a partner's distributors.")
            )
        if not distributors:
            raise ValidationError(
                {"distributors": [_("A partner works with at least one distributor.")]}
            )
        tenant.distributors.set(distributors)
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
    actor = actor_of(user)
    if tenant_type == TenantType.STAFF:
        if not actor.is_staff:
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
    Membership.objects.create(
        user=created,
        tenant_type=tenant_type,
        role=role,
        language=language,
        **({tenant_type: tenant} if tenant is not None else {}),
    )
    return created
