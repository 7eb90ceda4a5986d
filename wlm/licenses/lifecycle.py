"""The license lifecycle (DESIGN §4): one transition table, one function that applies it.

Every status change and every change of a license's terms goes through
``apply_change``: it locks the license row, checks that the action is allowed from
the current status and for the actor, changes the fields, and appends the history
event, all in one transaction. No other code assigns ``License.status``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from wlm.lib import clock
from wlm.lib.problems import Conflict
from wlm.licenses import current
from wlm.licenses.dates import add_years, has_ended, renewal_term
from wlm.licenses.keys import InvalidKey, normalize_key
from wlm.licenses.limits import elements_in_use, require_not_over_limit, require_within_limit
from wlm.licenses.models import (
    ACTIVE_STATUSES,
    Assignment,
    EventKind,
    License,
    LicenseEvent,
    LicenseType,
    Module,
    StartMode,
)
from wlm.licenses.models import LicenseStatus as S
from wlm.licenses.queries import status_rank
from wlm.locations.models import Location
from wlm.notifications import cycle
from wlm.tenancy.scoping import actor_of

SYSTEM = "system"  # the worker and the connection trigger: no user
STAFF = "staff"
DISTRIBUTOR = "distributor"
ORGANIZATION = "organization"
SAME = None  # the action keeps the current status


@dataclass(frozen=True)
class Rule:
    kind: EventKind
    sources: frozenset[str]
    target: str | None  # SAME, or the status after the action (restore/renew decide later)
    actors: frozenset[str]  # tenant types (admin role) that may act, or SYSTEM


def _rule(kind, sources, target, actors) -> Rule:
    return Rule(kind, frozenset(sources), target, frozenset(actors))


ACTIVE = set(ACTIVE_STATUSES)
TRANSITIONS: dict[str, Rule] = {
    "provision": _rule(
        EventKind.PROVISIONED, {S.PENDING_PROVISION}, S.PENDING_START, {ORGANIZATION, STAFF}
    ),
    "start": _rule(EventKind.STARTED, {S.PENDING_START}, S.IN_USE, {SYSTEM}),
    # a denied license ends too: its contract is over at the end date whatever its state
    "cut_off": _rule(
        EventKind.CUT_OFF, {S.IN_USE, S.ACCESS_DENIED}, S.CONTRACT_FINALIZED, {SYSTEM}
    ),
    "deny": _rule(
        EventKind.DENIED, {S.PENDING_START, S.IN_USE}, S.ACCESS_DENIED, {DISTRIBUTOR, STAFF}
    ),
    "restore": _rule(EventKind.RESTORED, {S.ACCESS_DENIED}, "restored", {DISTRIBUTOR, STAFF}),
    "cancel": _rule(
        EventKind.CANCELLED, {S.PENDING_PROVISION}, S.CONTRACT_FINALIZED, {DISTRIBUTOR, STAFF}
    ),
    "renew": _rule(
        EventKind.RENEWED,
        {S.IN_USE, S.ACCESS_DENIED, S.CONTRACT_FINALIZED},
        "renewed",
        {DISTRIBUTOR, STAFF},
    ),
    "upgrade": _rule(
        EventKind.UPGRADED, {S.PENDING_PROVISION, *ACTIVE}, SAME, {DISTRIBUTOR, STAFF}
    ),
    "assign": _rule(EventKind.ASSIGNED, ACTIVE, SAME, {ORGANIZATION, STAFF}),
    "unassign": _rule(EventKind.UNASSIGNED, ACTIVE, SAME, {ORGANIZATION, STAFF}),
}


def _serialise(value):
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if hasattr(value, "pk"):
        return value.pk
    return value


def _check_actor_type(rule: Rule, user) -> None:
    """The tenant type and role may make this kind of change (any license)."""
    if user is None:
        if SYSTEM not in rule.actors:
            raise PermissionDenied(_("This change needs a user."))
        return
    actor = actor_of(user)
    if not actor.is_admin or actor.tenant_type not in rule.actors:
        raise PermissionDenied(_("Your role cannot make this change to a license."))


def _check_actor(rule: Rule, user, license: License) -> None:
    _check_actor_type(rule, user)
    if user is None:
        return
    actor = actor_of(user)
    if actor.is_staff:
        return
    if actor.tenant_type == DISTRIBUTOR and license.distributor_id != actor.tenant_id:
        raise PermissionDenied(_("This license belongs to another distributor."))
    if actor.tenant_type == ORGANIZATION:
        owner = license.organization_id or license.location.organization_id
        if owner != actor.tenant_id:
            raise PermissionDenied(_("This license belongs to another organization."))


def check(license: License, action: str, user) -> Rule:
    """403 unless the actor may take ``action`` on this license; then 409 unless the
    license's status allows it. Functions with checks of their own call it first."""
    rule = TRANSITIONS[action]
    _check_actor(rule, user, license)
    if license.status not in rule.sources:
        raise Conflict(
            _("Cannot %(action)s a license that is %(status)s.")
            % {"action": action.replace("_", " "), "status": S(license.status).label}
        )
    return rule


def available_actions(license: License, user) -> list[str]:
    """The actions ``user`` may start on ``license`` in its current status (the license
    view's buttons), asked of ``check`` so the table stays the one copy of the rules.

    Preconditions of a function's own (a renewal needs an end date, a license keeps its
    last location) are not foreseen: the function still refuses, with its message.
    """
    offered = ("upgrade", "renew", "deny", "restore", "cancel", "assign", "unassign")
    actions = []
    for action in offered:
        try:
            check(license, action, user)
        except (PermissionDenied, Conflict):
            continue
        actions.append(action)
    return actions


def lock(license_id: int) -> License:
    """The license row, locked until the end of the transaction (``SELECT … FOR UPDATE``)."""
    # of=("self",): lock the license row only, not the joined location (lock order)
    return (
        License.objects.select_for_update(of=("self",))
        .select_related("location")
        .get(pk=license_id)
    )


def lock_many(license_ids) -> list[License]:
    """Several licenses, locked in id order (the one order, against deadlocks)."""
    return list(
        License.objects.select_for_update(of=("self",)).filter(pk__in=license_ids).order_by("pk")
    )


def apply_change(
    license: License,
    action: str,
    user,
    *,
    reason: str = "",
    was: dict | None = None,
    extra: dict | None = None,
    **changes,
) -> License:
    """Apply ``action`` to a locked license: check, change ``changes``, record the event.

    Must run inside the caller's transaction with ``license`` from ``lock()``.
    ``changes`` may include ``status``; ``was`` and ``extra`` add facts that are not
    fields (modules, locations) to the event's ``before`` and ``after``.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("apply_change runs inside a transaction, on a locked license")
    rule = check(license, action, user)
    before = {name: _serialise(getattr(license, name)) for name in changes}
    for name, value in changes.items():
        setattr(license, name, value)
    if changes:
        # only what changes is validated: the rest was valid when it was stored (and a
        # foreign key's check is a query each)
        unchanged = [f.name for f in license._meta.concrete_fields if f.name not in changes]
        license.full_clean(exclude=unchanged, validate_unique=False, validate_constraints=False)
        license.save(update_fields=list(changes))
        if "status" in changes and status_rank(before["status"]) != status_rank(license.status):
            # the license may move up or down among its locations' licenses
            locations = license.assignments.values_list("location_id", flat=True)
            current.refresh([license.location_id, *locations])
        if "end_date" in changes:  # a start or a renewal: the notices of the new cycle
            cycle.plan(license, replacing=before["end_date"] is not None)
    after = {name: _serialise(value) for name, value in changes.items()}
    record(
        license,
        rule.kind,
        user,
        reason=reason,
        before={**before, **(was or {})},
        after={**after, **(extra or {})},
    )
    return license


def record(license: License, kind: EventKind, user, *, reason="", before=None, after=None):
    """Append one history event (the "Upgrades" tab) in the caller's transaction."""
    actor = user if user is not None and user.is_authenticated else None
    return LicenseEvent.objects.create(
        license=license,
        at=clock.now(),
        actor=actor,
        actor_name=actor.get_username() if actor else SYSTEM,
        kind=kind,
        reason=reason,
        before=before or {},
        after=after or {},
    )


# --- The transitions with rules of their own ------------------------------------


@transaction.atomic
def start(license_id: int, start_date: dt.date, evidence: dict | None = None) -> License:
    """pending_start → in_use, from the device trigger or the fixed start date (no user)."""
    return start_locked(lock(license_id), start_date, evidence)


def start_locked(license: License, start_date: dt.date, evidence: dict | None = None) -> License:
    """``start`` for a caller that holds the license's lock already, in its transaction
    (the device trigger locks the license before it counts devices)."""
    return apply_change(
        license,
        "start",
        None,
        extra=evidence,
        status=S.IN_USE,
        start_date=start_date,
        end_date=add_years(start_date, license.years),
    )


@transaction.atomic
def cut_off(license_id: int) -> License:
    """in_use (or denied) → contract_finalized once the end date is reached in the
    license's zone."""
    return cut_off_locked(lock(license_id))


def cut_off_locked(license: License) -> License:
    """``cut_off`` for a caller that holds the license's lock (the notifier)."""
    if not has_ended(license.end_date, license.timezone, clock.now()):
        raise Conflict(_("The end date of this license has not been reached."))
    return apply_change(license, "cut_off", None, status=S.CONTRACT_FINALIZED)


def require_reason(reason: str) -> str:
    """The reason, trimmed; a 400 on ``reason`` when there is none (deny, cancel, reject)."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": [_("Say why.")]})
    return reason


@transaction.atomic
def deny(user, license_id: int, reason: str) -> License:
    license = lock(license_id)
    return apply_change(
        license,
        "deny",
        user,
        reason=require_reason(reason),
        status=S.ACCESS_DENIED,
        status_before_denial=license.status,
    )


def _upgradable(license: License) -> bool:
    return license.status in TRANSITIONS["upgrade"].sources


@transaction.atomic
def restore(user, license_id: int, reason: str = "") -> License:
    """Back to the status before the denial, or finalized if the end date has passed.
    Not while its locations hold more elements than it allows."""
    license = lock(license_id)
    check(license, "restore", user)
    previous = license.status_before_denial or S.PENDING_START
    if has_ended(license.end_date, license.timezone, clock.now()):
        previous = S.CONTRACT_FINALIZED
    if previous in ACTIVE:
        require_not_over_limit(license, upgradable=_upgradable(license))
    return apply_change(
        license, "restore", user, reason=reason, status=previous, status_before_denial=""
    )


@transaction.atomic
def cancel(user, license_id: int, reason: str) -> License:
    license = lock(license_id)
    return apply_change(
        license, "cancel", user, reason=require_reason(reason), status=S.CONTRACT_FINALIZED
    )


@transaction.atomic
def renew(user, license_id: int, years: int, reason: str = "") -> License:
    """Before the end the end date moves by N years (a denial stays); after it, a new
    term of N years runs from today and the license is in use again. Not while its
    locations hold more elements than it allows (they may have grown while it was
    finalized and limited nothing)."""
    license = lock(license_id)
    check(license, "renew", user)
    if license.end_date is None:
        raise Conflict(
            _("Only a license that has started can be renewed; this one is %(status)s.")
            % {"status": S(license.status).label}
        )
    require_not_over_limit(license, upgradable=_upgradable(license))
    today = clock.today_in(license.timezone)
    ended = has_ended(license.end_date, license.timezone, clock.now())
    start_date, end_date = renewal_term(license.end_date, today, years)
    changes = {"end_date": end_date}
    if ended:
        changes.update(start_date=start_date)
        if license.status == S.ACCESS_DENIED:
            changes.update(status_before_denial=S.IN_USE)
        elif license.status == S.CONTRACT_FINALIZED:
            changes.update(status=S.IN_USE)
    return apply_change(license, "renew", user, reason=reason, extra={"years": years}, **changes)


class UnknownKey(Exception):
    """An unknown key and another organization's key: one answer, so keys can't be probed."""


@transaction.atomic
def provision(user, location, key_text: str) -> License:
    """Send Key: pending_provision → pending_start, assigned to ``location``.

    The key must be one made for a location of the same organization. The location row
    is locked first, then the license, so concurrent activations serialise.
    """
    _check_actor_type(TRANSITIONS["provision"], user)  # before the key says anything
    try:
        key = normalize_key(key_text)
    except InvalidKey:
        raise UnknownKey from None
    location = Location.objects.select_for_update().get(pk=location.pk)
    found = License.objects.filter(key=key).values_list("pk", flat=True).first()
    if found is None:
        raise UnknownKey
    license = lock(found)
    if license.location.organization_id != location.organization_id:
        raise UnknownKey
    if license.status != S.PENDING_PROVISION:
        raise Conflict(_("This key has already been used or its license has ended."))
    _require_free(location)
    _require_type_fits(license, location)
    require_within_limit(license, elements_in_use(license, [location]))
    license = apply_change(
        license,
        "provision",
        user,
        extra={"location": str(location.pk)},
        status=S.PENDING_START,
        organization=location.organization,
        provisioned=clock.now(),
        timezone=location.timezone,
    )
    Assignment.objects.create(license=license, location=location, created=clock.now())
    current.refresh([location])
    if _fixed_start_reached(license):
        license = start(license.pk, license.fixed_start)
    return license


def _fixed_start_reached(license: License) -> bool:
    return (
        license.start_mode == StartMode.FIXED
        and license.status == S.PENDING_START
        and license.fixed_start <= clock.today_in(license.timezone)
    )


def start_fixed_due() -> list[int]:
    """Start every pending_start license whose fixed start date has arrived in its zone.

    The start date is the fixed date even when applied late, so the term is the one the
    distributor set. Called by the worker on each pass (issue 5); safe to run twice.
    """
    # the earliest "today" on Earth is at most one day ahead of UTC's
    horizon = clock.now().date() + dt.timedelta(days=1)
    candidates = list(
        License.objects.filter(
            status=S.PENDING_START, start_mode=StartMode.FIXED, fixed_start__lte=horizon
        ).values_list("pk", flat=True)
    )
    started = []
    for license_id in candidates:
        with transaction.atomic():
            license = lock(license_id)
            if _fixed_start_reached(license):
                start(license.pk, license.fixed_start)
                started.append(license.pk)
    return started


def _require_type_fits(license: License, location: Location) -> None:
    """Rooms are configured at hospitality locations only: a rooms license elsewhere
    would limit nothing."""
    if license.license_type == LicenseType.ROOMS and not location.is_hospitality:
        raise Conflict(_("A rooms license can only be used at hospitality locations."))


def _require_free(location: Location) -> None:
    """A location holds one active license at a time (checked under its row lock)."""
    active = Assignment.objects.filter(location=location, license__status__in=ACTIVE)
    if active.exists():
        raise Conflict(_("This location already holds an active license."))


@transaction.atomic
def assign(user, license_id: int, location: Location) -> License:
    """Assign another location of the license's organization; the limit counts it too.

    Locks the location, then the license: the order of Send Key and of adding elements.
    """
    location = Location.objects.select_for_update().get(pk=location.pk)
    license = lock(license_id)
    check(license, "assign", user)
    if location.organization_id != license.organization_id:
        raise ValidationError({"location": [_("Choose a location of the license's organization.")]})
    if license.assignments.filter(location=location).exists():
        raise Conflict(_("The license is already assigned to this location."))
    _require_free(location)
    _require_type_fits(license, location)
    require_within_limit(license, elements_in_use(license, [location]))
    license = apply_change(license, "assign", user, extra={"location": str(location.pk)})
    Assignment.objects.create(license=license, location=location, created=clock.now())
    current.refresh([location])
    return license


@transaction.atomic
def unassign(user, license_id: int, location: Location) -> License:
    """Take a location off the license; its last location stays (cancel or deny instead)."""
    license = lock(license_id)
    check(license, "unassign", user)
    assignment = license.assignments.filter(location=location).first()
    if assignment is None:
        raise Conflict(_("The license is not assigned to this location."))
    if license.assignments.count() == 1:
        raise Conflict(_("A license keeps at least one location."))
    license = apply_change(license, "unassign", user, was={"location": str(location.pk)})
    assignment.delete()
    current.refresh([location])
    return license


def module_codes(license: License) -> list[str]:
    return sorted(license.modules.values_list("code", flat=True))


@transaction.atomic
def upgrade(
    user,
    license_id: int,
    *,
    limit: int | None = None,
    add_modules: Iterable[Module] = (),
    remove_modules: Iterable[Module] = (),
    reason: str = "",
) -> License:
    """Change the limit and the modules. A limit below what is in use is refused (409)."""
    license = lock(license_id)
    check(license, "upgrade", user)
    add, remove = set(add_modules), set(remove_modules)
    if add & remove:
        raise ValidationError({"add_modules": [_("A module cannot be added and removed.")]})
    codes = module_codes(license)
    changes = {}
    if limit is not None and limit != license.limit:
        require_within_limit(license, elements_in_use(license), limit=limit)
        changes["limit"] = limit
    new_codes = sorted((set(codes) | {m.code for m in add}) - {m.code for m in remove})
    if not changes and new_codes == codes:
        raise ValidationError({"non_field_errors": [_("Nothing to change.")]})
    was, extra = {}, {}
    if new_codes != codes:
        was, extra = {"modules": codes}, {"modules": new_codes}
    license = apply_change(license, "upgrade", user, reason=reason, was=was, extra=extra, **changes)
    license.modules.add(*add)
    license.modules.remove(*remove)
    return license
