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
    RequestKind,
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
    """The distributor approves: the license is generated (Pending Provision), or the
    renewal or upgrade asked for is applied to its license (``apply_change``)."""
    request = _lock_request(request_id)
    require_decider(user, request)
    _require_pending(request)
    if request.is_change:
        if start_mode != StartMode.AUTOMATIC or fixed_start is not None:
            raise ValidationError(
                {"start_mode": [_("A renewal or an upgrade changes a license that has a start.")]}
            )
        license = _apply_change(user, request)
    else:
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


# --- Requests for an existing license: a renewal, an upgrade --------------------------
#
# The license's partner or organization asks (``License.objects.changes_asked_by``); the
# license's distributor decides, as for a new license. The request is checked against
# the license when it is made and again, under the license's lock, when it is approved:
# the same lifecycle functions as the distributor's own renewal and upgrade, so the
# same rules, and the event names the request.

# the lifecycle's action each kind of change applies
CHANGE_ACTIONS = {RequestKind.RENEWAL: "renew", RequestKind.UPGRADE: "upgrade"}
ALREADY_PENDING = {
    RequestKind.RENEWAL: gettext_lazy(
        "A renewal of this license is already requested (request %(id)s): "
        "%(distributor)s decides on it first."
    ),
    RequestKind.UPGRADE: gettext_lazy(
        "An upgrade of this license is already requested (request %(id)s): "
        "%(distributor)s decides on it first."
    ),
}


def may_ask_for_change(user) -> bool:
    """Partner and organization admins, and staff admins (no query: the API's 403
    before the body)."""
    return License.objects.may_ask_changes(user)


def require_change_asker(user, license: License | None = None) -> None:
    """403 unless ``user`` asks for renewals and upgrades, of ``license`` if given."""
    message = _("Only the license's partner or organization asks for its renewal or upgrade.")
    if not may_ask_for_change(user):
        raise PermissionDenied(message)
    if license is not None and not (
        License.objects.changes_asked_by(user).filter(pk=license.pk).exists()
    ):
        raise PermissionDenied(message)


def _require_none_pending(license: License, kind: str) -> None:
    pending = (
        LicenseRequest.objects.filter(license=license, kind=kind, state=RequestState.PENDING)
        .values_list("pk", "distributor__name")
        .first()
    )
    if pending is not None:
        pk, distributor = pending
        raise Conflict(str(ALREADY_PENDING[kind]) % {"id": pk, "distributor": distributor})


def check_change(license: License, kind: str) -> None:
    """409 with why unless a ``kind`` change of ``license`` may be asked for now: none
    is pending already, and the license is as the change needs it (a renewal:
    ``lifecycle.require_renewable``; an upgrade: a status that allows one)."""
    _require_none_pending(license, kind)
    if kind == RequestKind.RENEWAL:
        lifecycle.require_renewable(license)
    else:
        lifecycle.require_status(license, CHANGE_ACTIONS[kind])


def askable_changes(
    license: License, user, *, pending: Iterable[str] = (), asks: bool | None = None
) -> list[str]:
    """The kinds of change ``user`` may ask for on ``license`` (the license view's
    Request buttons): a role that asks, and not one that makes the change itself (the
    distributor renews; staff do both: they act), a status that allows the change, a
    renewal once the license has started, none of that kind ``pending``; then whether
    the user asks for this license (``asks`` when the caller read it with the license,
    else one query). What the status does not say (the elements in use) the form says
    when it is opened."""
    if not may_ask_for_change(user):
        return []
    kinds = [
        kind
        for kind, action in CHANGE_ACTIONS.items()
        if not lifecycle.may(user, action)
        and license.status in lifecycle.TRANSITIONS[action].sources
        and not (kind == RequestKind.RENEWAL and license.end_date is None)
        and kind not in pending
    ]
    if asks is None and kinds:
        asks = License.objects.changes_asked_by(user).filter(pk=license.pk).exists()
    return kinds if asks else []


def _as_stored(license: License) -> License:
    """The license as stored now: a request is checked against it, whatever the caller
    read before (not locked: the approval checks it again under its lock)."""
    return License.objects.select_related("location").get(pk=license.pk)


def _create_change(user, license: License, kind: str, **fields) -> LicenseRequest:
    """The request row; a concurrent request for the same change that was stored first
    (the partial unique index ``request_one_pending_change``) makes this one the 409."""
    request = LicenseRequest(
        kind=kind,
        license=license,
        location=license.location,
        partner_id=license.partner_id,
        distributor_id=license.distributor_id,
        requested_by=user,
        created=clock.now(),
        **fields,
    )
    try:
        with transaction.atomic():
            request.save()
    except IntegrityError:
        _require_none_pending(license, kind)
        raise
    audit.record(
        audit.Kind.REQUEST_CREATED,
        obj=request,
        tenant=audit.request_scope(request),
        actor=user,
        after={"kind": kind, "license": license.pk},
    )
    return request


@transaction.atomic
def request_renewal(user, license: License, years: int) -> LicenseRequest:
    """The license's partner or organization asks its distributor to renew it by
    ``years``."""
    require_change_asker(user, license)
    license = _as_stored(license)
    if not 1 <= years <= 5:
        raise ValidationError({"years": [_("A license runs 1 to 5 years.")]})
    check_change(license, RequestKind.RENEWAL)
    return _create_change(user, license, RequestKind.RENEWAL, years=years)


@transaction.atomic
def request_upgrade(
    user,
    license: License,
    *,
    aps: int | None = None,
    rooms: int | None = None,
    add_modules: Iterable[Module] = (),
    remove_modules: Iterable[Module] = (),
) -> LicenseRequest:
    """The license's partner or organization asks its distributor for another limit
    (by the license's type) or other modules."""
    require_change_asker(user, license)
    license = _as_stored(license)
    limit = upgrade_limit(license, aps=aps, rooms=rooms)
    check_change(license, RequestKind.UPGRADE)
    add, remove = set(add_modules), set(remove_modules)
    lifecycle.plan_upgrade(license, limit=limit, add_modules=add, remove_modules=remove)
    request = _create_change(user, license, RequestKind.UPGRADE, aps=aps, rooms=rooms)
    request.add_modules.set(add)
    request.remove_modules.set(remove)
    return request


def _apply_change(user, request: LicenseRequest) -> License:
    """Apply an approved renewal or upgrade through the lifecycle, which checks the
    license as it is now (locked): a license that changed since the request and no
    longer allows it is a 409 that says why."""
    try:
        if request.kind == RequestKind.RENEWAL:
            return lifecycle.renew(user, request.license_id, request.years, request_id=request.pk)
        return upgrade_license(
            user,
            License.objects.get(pk=request.license_id),
            aps=request.aps,
            rooms=request.rooms,
            add_modules=list(request.add_modules.all()),
            remove_modules=list(request.remove_modules.all()),
            request_id=request.pk,
        )
    except ValidationError as error:
        why = " ".join(error.messages)
    except Conflict as error:
        why = str(error.detail)
    raise Conflict(_("The license no longer allows this request: %(why)s") % {"why": why})


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


def upgrade_limit(license: License, *, aps: int | None, rooms: int | None) -> int | None:
    """The new limit an upgrade names by the license's type (``aps`` or ``rooms``; the
    other is a 400), or None to keep it."""
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
    return limit


def upgrade_license(
    user,
    license: License,
    *,
    aps: int | None = None,
    rooms: int | None = None,
    add_modules: Iterable[Module] = (),
    remove_modules: Iterable[Module] = (),
    reason: str = "",
    request_id: int | None = None,
) -> License:
    """Limits by the license's type (``aps`` or ``rooms``) and modules."""
    return lifecycle.upgrade(
        user,
        license.pk,
        limit=upgrade_limit(license, aps=aps, rooms=rooms),
        add_modules=add_modules,
        remove_modules=remove_modules,
        reason=reason,
        request_id=request_id,
    )
