"""Business rules of tenants and users: every write of this app goes through here."""

import smtplib

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils.translation import gettext as _

from wlm.audit import services as audit
from wlm.lib.problems import save_unique
from wlm.lib.validators import validate_one_line
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
    created, membership, tenant = _new_user(
        user,
        username=username,
        email=email,
        password=password,
        tenant_type=tenant_type,
        tenant_id=tenant_id,
        role=role,
        language=language,
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


def _tenant_for_new_user(user, tenant_type: str, tenant_id: int | None, role: str):
    """The tenant a new user of ``user`` joins (None: staff), checked: the one door."""
    if tenant_type == TenantType.STAFF:
        if not _is_staff_admin(user):
            raise PermissionDenied(_("Only the platform operator creates staff users."))
        if tenant_id is not None:
            raise ValidationError({"tenant_id": [_("Staff users have no tenant.")]})
        return None
    if role == Role.GATEWAY:
        raise ValidationError({"role": [_("The gateway role is only for staff accounts.")]})
    if tenant_id is None:
        raise ValidationError({"tenant_id": [_("This field is required.")]})
    model = TENANT_MODELS[tenant_type]
    tenant = model.objects.visible_to(user).filter(pk=tenant_id).first()
    if tenant is None:
        raise ValidationError({"tenant_id": [_("No such tenant.")]})
    require_managed(user, tenant)
    return tenant


def _new_user(
    user,
    *,
    username: str,
    email: str,
    password: str | None,
    tenant_type: str,
    tenant_id: int | None,
    role: str,
    language: str = "en",
    name: str = "",
):
    """The user and its membership (no audit entry: the caller writes its own kind).
    ``password`` None: an unusable one (an invitation sets it)."""
    tenant = _tenant_for_new_user(user, tenant_type, tenant_id, role)
    User = get_user_model()
    if User.objects.filter(username__iexact=username).exists():
        raise ValidationError({"username": [_("This username is taken.")]})
    if password is not None:
        candidate = User(username=username, email=email)
        try:
            validate_password(password, candidate)
        except ValidationError as error:
            raise ValidationError({"password": error.messages}) from None
    try:
        with transaction.atomic():
            created = User.objects.create_user(
                username=username, email=email, password=password, first_name=name
            )
    except IntegrityError:  # a concurrent request took the name first
        raise ValidationError({"username": [_("This username is taken.")]}) from None
    membership = Membership.objects.create(
        user=created,
        tenant_type=tenant_type,
        role=role,
        language=language,
        **({tenant_type: tenant} if tenant is not None else {}),
    )
    return created, membership, tenant


# --- Users: invitations, roles, deactivation (the /users/ page and the API) --------------
INVITABLE_ROLES = (Role.ADMIN, Role.VIEWER)


@transaction.atomic
def invite_user(
    user,
    *,
    email: str,
    role: str,
    tenant_type: str,
    tenant_id: int | None,
    name: str = "",
    language: str = "en",
):
    """A new user of a tenant ``user`` manages, invited by e-mail: created active with an
    unusable password, its username its e-mail address; the e-mail's one-time link
    (``wlm.tenancy.invitations``, valid 7 days, under ``PUBLIC_URL``) sets the password.
    The e-mail is sent inside the transaction: if the mail server refuses it, nobody is
    created."""
    from wlm.tenancy import invitations

    if role not in INVITABLE_ROLES:
        raise ValidationError({"role": [_("Choose administrator or viewer.")]})
    email = get_user_model().objects.normalize_email(email.strip())
    try:
        validate_email(email)
    except ValidationError as error:
        raise ValidationError({"email": error.messages}) from None
    try:  # the address is the username: the username's characters only (an RFC allows more)
        get_user_model().username_validator(email)
    except ValidationError:
        raise ValidationError(
            {"email": [_("The address becomes the username: letters, digits and @ . + - _ only.")]}
        ) from None
    try:
        validate_one_line(name)
    except ValidationError as error:
        raise ValidationError({"name": error.messages}) from None
    if len(email) > 150 or len(name) > 150:
        raise ValidationError(_("The e-mail address and the name have at most 150 characters."))
    taken = Q(email__iexact=email) | Q(username__iexact=email)
    if get_user_model().objects.filter(taken).exists():
        raise ValidationError({"email": [_("A user with this e-mail address already exists.")]})
    try:
        person, membership, tenant = _new_user(
            user,
            username=email,
            email=email,
            password=None,
            tenant_type=tenant_type,
            tenant_id=tenant_id,
            role=role,
            language=language,
            name=name,
        )
    except ValidationError as error:
        if "username" in getattr(error, "error_dict", {}):  # the username is the e-mail
            raise ValidationError(
                {"email": [_("A user with this e-mail address already exists.")]}
            ) from None
        raise
    audit.record(
        audit.Kind.USER_INVITED,
        obj=person,
        tenant=tenant,
        actor=user,
        after={"email": email, "role": role, "tenant_type": tenant_type}
        | {"tenant": membership.tenant_id},
    )
    tenant_name = tenant.name if tenant is not None else _("Platform operator")
    try:
        invitations.send(person, inviter=user, tenant_name=tenant_name, language=language)
    except (smtplib.SMTPException, OSError):
        raise ValidationError(
            {"email": [_("The invitation could not be sent. Try again later.")]}
        ) from None
    return person


def invitation_pending(person) -> bool:
    """Invited and the link not used yet: no usable password, never logged in."""
    return not person.has_usable_password() and person.last_login is None


def _tenant_memberships(membership):
    """The memberships of ``membership``'s tenant (staff: every staff membership)."""
    if membership.tenant_type == TenantType.STAFF:
        return Membership.objects.filter(tenant_type=TenantType.STAFF)
    field = f"{membership.tenant_type}_id"
    return Membership.objects.filter(
        tenant_type=membership.tenant_type, **{field: getattr(membership, field)}
    )


def _lock_tenant(membership) -> None:
    """Lock the memberships of ``membership``'s tenant (in id order): a role change or a
    deactivation of its users queues behind another, and counts what the first left."""
    memberships = _tenant_memberships(membership).select_for_update().order_by("pk")
    list(memberships.values_list("pk", flat=True))


def _refuse_if_last_admin(membership) -> None:
    """Under ``_lock_tenant``: refused when ``membership`` is its tenant's last active
    admin."""
    others = _tenant_memberships(membership).filter(role=Role.ADMIN, user__is_active=True)
    if not others.exclude(pk=membership.pk).exists():
        raise ValidationError(
            _(
                "This is the last active administrator of the tenant: make another user an "
                "administrator first."
            )
        )


def _managed_membership(user, person) -> Membership:
    """``person``'s membership if ``user`` manages it; a 403 otherwise. Nobody changes
    their own account here (an admin who locks themselves out needs another anyway)."""
    membership = Membership.objects.filter(user=person).first()
    if (
        membership is None
        or not Membership.objects.managed_by(user).filter(pk=membership.pk).exists()
    ):
        raise PermissionDenied(_("You cannot change this user."))
    if membership.role == Role.GATEWAY:
        raise PermissionDenied(_("The data plane's account is changed in the admin only."))
    if person.pk == user.pk:
        raise ValidationError(_("You cannot change your own account here."))
    return membership


@transaction.atomic
def change_role(user, person, role: str):
    """Make ``person`` an administrator or a viewer of their tenant. The tenant's last
    active admin stays one (refused under the tenant's lock)."""
    if role not in INVITABLE_ROLES:
        raise ValidationError({"role": [_("Choose administrator or viewer.")]})
    membership = _managed_membership(user, person)
    _lock_tenant(membership)
    membership.refresh_from_db()
    person.refresh_from_db()
    if membership.role == role:
        return person
    if membership.role == Role.ADMIN and person.is_active:
        _refuse_if_last_admin(membership)
    was = membership.role
    membership.role = role
    membership.save(update_fields=["role"])
    person.__dict__.pop("_wlm_actor", None)
    person.membership = membership
    audit.record(
        audit.Kind.USER_CHANGED,
        obj=person,
        tenant=audit.tenant_of(person),
        actor=user,
        before={"role": was},
        after={"role": role},
    )
    return person


@transaction.atomic
def deactivate_user(user, person):
    """Deactivate ``person``: no more logins; their sessions end at their next request
    (Django's backend refuses an inactive user) and their API tokens are revoked
    (``wlm.tenancy.signals``). A pending invitation's link stops working too. The
    tenant's last active admin stays (refused under the tenant's lock)."""
    membership = _managed_membership(user, person)
    _lock_tenant(membership)
    membership.refresh_from_db()
    person = get_user_model().objects.select_for_update().get(pk=person.pk)
    if not person.is_active:
        return person
    if membership.role == Role.ADMIN:
        _refuse_if_last_admin(membership)
    person.is_active = False
    person.save(update_fields=["is_active"])
    audit.record(
        audit.Kind.USER_DEACTIVATED,
        obj=person,
        tenant=audit.tenant_of(person),
        actor=user,
        before={"is_active": True},
        after={"is_active": False},
    )
    return person


def managed_tenants(user) -> list[tuple[str, str]]:
    """The tenants whose users ``user`` manages, as ``(key, label)``: ``staff`` for the
    platform's own (staff admins), ``<type>:<id>`` for a tenant (``parse_tenant``)."""
    choices = []
    if _is_staff_admin(user):
        choices.append((TenantType.STAFF.value, str(TenantType.STAFF.label)))
    for tenant_type, model in TENANT_MODELS.items():
        for tenant in model.objects.managed_by(user).order_by("name", "pk"):
            label = f"{tenant.name} ({model._meta.verbose_name})"
            choices.append((f"{tenant_type}:{tenant.pk}", label))
    return choices


def parse_tenant(key: str) -> tuple[str, int | None]:
    """``(tenant_type, tenant_id)`` of a ``managed_tenants`` key."""
    tenant_type, _sep, tenant_id = key.partition(":")
    return tenant_type, int(tenant_id) if tenant_id else None
