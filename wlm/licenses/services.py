"""Business rules of the licenses app: the module catalogue, license requests and the
generation of licenses (DESIGN §2, §3). Transitions of existing licenses live in
``wlm.licenses.lifecycle``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from wlm.audit import services as audit
from wlm.lib import clock
from wlm.lib.problems import Conflict
from wlm.licenses import lifecycle
from wlm.licenses.keys import generate_key
from wlm.licenses.models import (
    License,
    LicenseRequest,
    LicenseType,
    Module,
    RequestState,
    StartMode,
)
from wlm.locations.models import Location
from wlm.tenancy.models import Distributor, Partner, TenantType
from wlm.tenancy.scoping import actor_of, require_managed

MODULE_FIELDS = ("name", "description", "advanced")
MAX_LIMIT = 1_000_000
KEY_ATTEMPTS = 5  # a clash of 125 random bits is practically impossible; never loop forever


# --- The module catalogue (staff only) --------------------------------------------


def _require_staff(user) -> None:
    """The catalogue is managed by staff admins only (``Module.objects.managed_by``)."""
    if not Module.objects.may_manage(user):
        raise PermissionDenied(_("Only the platform operator keeps the module catalogue."))


def create_module(user, *, code: str, **fields) -> Module:
    _require_staff(user)
    try:
        with transaction.atomic():
            return Module.objects.create(code=code, **fields)
    except IntegrityError:
        raise Conflict(
            _("A module with the code %(code)s exists.") % {"code": code}, fields=["code"]
        ) from None


def update_module(user, module: Module, **fields) -> Module:
    _require_staff(user)
    changed = [name for name in MODULE_FIELDS if name in fields]
    for name in changed:
        setattr(module, name, fields[name])
    if changed:
        module.save(update_fields=changed)
    return module


# --- The terms of a request or a license ------------------------------------------


@dataclass(frozen=True)
class Terms:
    """What a partner asks for and a distributor sells (DESIGN §2)."""

    location: Location
    distributor: Distributor
    years: int
    payment: str
    aps: int | None = None
    rooms: int | None = None
    modules: tuple[Module, ...] = ()

    @property
    def partner(self):
        """The partner of the location's organization: it requests and sells to it."""
        return self.location.organization.partner

    @property
    def license_type(self) -> str:
        return LicenseType.ROOMS if self.location.is_hospitality else LicenseType.APS

    @property
    def limit(self) -> int:
        return self.rooms if self.location.is_hospitality else self.aps

    def validate(self) -> None:
        """Field errors (400) for terms that no license could have."""
        errors: dict[str, list[str]] = {}
        if not 1 <= self.years <= 5:
            errors["years"] = [_("A license runs 1 to 5 years.")]
        wanted, unwanted = ("rooms", "aps") if self.location.is_hospitality else ("aps", "rooms")
        if getattr(self, wanted) is None:
            errors[wanted] = [
                _("A hospitality location is licensed by rooms.")
                if wanted == "rooms"
                else _("This location is licensed by access points.")
            ]
        elif not 1 <= getattr(self, wanted) <= MAX_LIMIT:
            errors[wanted] = [_("Choose between 1 and %(max)d.") % {"max": MAX_LIMIT}]
        if getattr(self, unwanted) is not None:
            errors[unwanted] = [
                _("Leave empty: only hospitality locations are licensed by rooms.")
                if unwanted == "rooms"
                else _("Leave empty: a hospitality location is licensed by rooms.")
            ]
        if not self.partner.distributors.filter(pk=self.distributor.pk).exists():
            errors["distributor"] = [
                _("The location's partner does not work with this distributor.")
            ]
        if errors:
            raise ValidationError(errors)


def own_distributor(user) -> Distributor:
    """The distributor named by default: a distributor's own; anyone else must name one."""
    actor = actor_of(user)
    if actor.tenant_type != TenantType.DISTRIBUTOR:
        raise ValidationError({"distributor": [_("This field is required.")]})
    return Distributor.objects.get(pk=actor.tenant_id)


def _fields_of(terms: Terms) -> dict:
    return {
        "location": terms.location,
        "partner": terms.partner,
        "distributor": terms.distributor,
        "years": terms.years,
        "payment": terms.payment,
    }


# --- License requests --------------------------------------------------------------


# Each right is ``managed_by`` of the rows it is exercised on: a request is made in its
# partner's name, decided by the distributor it is addressed to, and a license is
# generated in a distributor's name. ``may_*`` asks the role (no query: the pages'
# buttons, the API's 403 before the body); ``require_*`` with a row asks for that row.


def may_request(user) -> bool:
    """Partner admins and staff admins."""
    return Partner.objects.may_manage(user)


def may_decide(user) -> bool:
    """Distributor admins and staff admins."""
    return LicenseRequest.objects.may_manage(user)


def may_generate(user) -> bool:
    """Distributor admins and staff admins."""
    return Distributor.objects.may_manage(user)


def require_requester(user, partner: Partner | None = None) -> None:
    """403 unless ``user`` requests licenses, in ``partner``'s name if given."""
    message = _("Only partners and the platform operator request licenses.")
    if not may_request(user):
        raise PermissionDenied(message)
    if partner is not None:
        require_managed(user, partner, message)


def require_decider(user, request: LicenseRequest | None = None) -> None:
    """403 unless ``user`` decides requests, ``request`` if given."""
    if not may_decide(user):
        raise PermissionDenied(_("Only a distributor or the platform operator decides requests."))
    if request is not None:
        require_managed(user, request, _("Only the request's distributor decides it."))


def require_generator(user, distributor: Distributor | None = None) -> None:
    """403 unless ``user`` generates licenses, in ``distributor``'s name if given."""
    if not may_generate(user):
        raise PermissionDenied(_("Only a distributor or the platform operator generates licenses."))
    if distributor is not None:
        require_managed(user, distributor, _("A distributor generates its own licenses."))


@transaction.atomic
def create_request(user, terms: Terms) -> LicenseRequest:
    """A partner (or staff) asks the distributor for a license for one of its customers."""
    require_requester(user, terms.partner)
    terms.validate()
    request = LicenseRequest.objects.create(
        **_fields_of(terms),
        aps=terms.aps,
        rooms=terms.rooms,
        requested_by=user,
        created=clock.now(),
    )
    request.modules.set(terms.modules)
    audit.record(
        audit.Kind.REQUEST_CREATED, obj=request, tenant=audit.request_scope(request), actor=user
    )
    return request


def _lock_request(request_id: int) -> LicenseRequest:
    return (
        LicenseRequest.objects.select_for_update(of=("self",))
        .select_related("location__organization__partner", "distributor")
        .get(pk=request_id)
    )


# a whole sentence for each decided state, so each translates as a sentence
ALREADY_DECIDED = {
    RequestState.APPROVED: gettext_lazy("This request is already approved."),
    RequestState.REJECTED: gettext_lazy("This request is already rejected."),
}


def _require_pending(request: LicenseRequest) -> None:
    if request.state != RequestState.PENDING:
        raise Conflict(str(ALREADY_DECIDED[request.state]))


@transaction.atomic
def approve_request(
    user, request_id: int, *, start_mode: str = StartMode.AUTOMATIC, fixed_start=None
) -> License:
    """The distributor approves: the license is generated (Pending Provision)."""
    request = _lock_request(request_id)
    require_decider(user, request)
    _require_pending(request)
    terms = Terms(
        location=request.location,
        distributor=request.distributor,
        years=request.years,
        payment=request.payment,
        aps=request.aps,
        rooms=request.rooms,
        modules=tuple(request.modules.all()),
    )
    license = _generate(user, terms, start_mode, fixed_start, origin={"request": request.pk})
    request.state = RequestState.APPROVED
    request.license = license
    request.decided = clock.now()
    request.save(update_fields=["state", "license", "decided"])
    audit.record(
        audit.Kind.REQUEST_APPROVED,
        obj=request,
        tenant=audit.request_scope(request),
        actor=user,
        before={"state": RequestState.PENDING},
        after={"state": request.state, "license": license.pk},
    )
    return license


@transaction.atomic
def reject_request(user, request_id: int, reason: str) -> LicenseRequest:
    request = _lock_request(request_id)
    require_decider(user, request)
    _require_pending(request)
    request.state = RequestState.REJECTED
    request.reason = lifecycle.require_reason(reason)
    request.decided = clock.now()
    request.save(update_fields=["state", "reason", "decided"])
    audit.record(
        audit.Kind.REQUEST_REJECTED,
        obj=request,
        tenant=audit.request_scope(request),
        actor=user,
        before={"state": RequestState.PENDING},
        after={"state": request.state, "reason": request.reason},
    )
    return request


# --- Licenses ------------------------------------------------------------------------


@transaction.atomic
def create_license(
    user, terms: Terms, *, start_mode: str = StartMode.AUTOMATIC, fixed_start=None
) -> License:
    """A distributor (or staff) generates a license without a request."""
    require_generator(user, terms.distributor)
    return _generate(user, terms, start_mode, fixed_start, origin={})


def _validate_start(terms: Terms, start_mode: str, fixed_start: dt.date | None) -> None:
    if start_mode == StartMode.FIXED:
        if fixed_start is None:
            raise ValidationError({"fixed_start": [_("A fixed start needs a date.")]})
        if fixed_start < clock.today_in(terms.location.timezone):
            raise ValidationError({"fixed_start": [_("The start date cannot be in the past.")]})
    elif fixed_start is not None:
        raise ValidationError({"fixed_start": [_("Only a fixed start takes a date.")]})


def _generate(user, terms: Terms, start_mode, fixed_start, origin: dict) -> License:
    """Make the license and its key, with the catalogue's base modules, and record it."""
    terms.validate()
    _validate_start(terms, start_mode, fixed_start)
    fields = {
        **_fields_of(terms),
        "license_type": terms.license_type,
        "limit": terms.limit,
        "start_mode": start_mode,
        "fixed_start": fixed_start,
        "timezone": terms.location.timezone,
        "created": clock.now(),
    }
    for attempt in range(KEY_ATTEMPTS):
        try:
            with transaction.atomic():
                license = License.objects.create(key=generate_key(), **fields)
            break
        except IntegrityError:  # the same key twice: draw again
            if attempt == KEY_ATTEMPTS - 1:
                raise
    modules = {*terms.modules, *Module.objects.filter(advanced=False)}
    license.modules.set(modules)
    lifecycle.created(
        license,
        user,
        after={
            "key": license.key,
            "license_type": license.license_type,
            "limit": license.limit,
            "years": license.years,
            "payment": license.payment,
            "modules": sorted(module.code for module in modules),
            "start_mode": start_mode,
            "fixed_start": fixed_start.isoformat() if fixed_start else None,
            **origin,
        },
    )
    return license


def upgrade_license(
    user,
    license: License,
    *,
    aps: int | None = None,
    rooms: int | None = None,
    add_modules: Iterable[Module] = (),
    remove_modules: Iterable[Module] = (),
    reason: str = "",
) -> License:
    """Limits by the license's type (``aps`` or ``rooms``) and modules."""
    rooms_license = license.license_type == LicenseType.ROOMS
    wrong, limit = ("aps", rooms) if rooms_license else ("rooms", aps)
    if (aps if rooms_license else rooms) is not None:
        message = (
            _("This license limits Rooms.")
            if rooms_license
            else _("This license limits Access points.")
        )
        raise ValidationError({wrong: [message]})
    if limit is not None and not 1 <= limit <= MAX_LIMIT:
        field = "rooms" if rooms_license else "aps"
        raise ValidationError({field: [_("Choose between 1 and %(max)d.") % {"max": MAX_LIMIT}]})
    return lifecycle.upgrade(
        user,
        license.pk,
        limit=limit,
        add_modules=add_modules,
        remove_modules=remove_modules,
        reason=reason,
    )
