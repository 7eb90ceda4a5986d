"""The license lifecycle (DESIGN §4): one transition table, one function that applies it.

Every status change, every change of a license's terms and every assignment goes
through ``apply_change`` (``apply_changes`` for several licenses at once): it checks that
the action is allowed from the current status and for the actor, changes the fields,
writes or deletes the assignment the table names, stores the license of the locations
that moves (``wlm.licenses.current``), signs the terms again if they changed
(``wlm.licenses.tokens``), and appends the history event, all in the caller's
transaction on the locked license row. No other code assigns ``License.status`` or
writes an assignment; a new license passes through ``created``.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from wlm.audit import services as audit
from wlm.lib import clock
from wlm.lib.problems import Conflict
from wlm.licenses import current, tokens
from wlm.licenses.dates import add_years, has_ended, renewal_term
from wlm.licenses.keys import InvalidKey, normalize_key
from wlm.licenses.limits import (
    element_model,
    elements_in_use,
    require_not_over_limit,
    require_within_limit,
)
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
from wlm.locations.models import Location, Sector, elements_at
from wlm.notifications import cycle
from wlm.tenancy.scoping import actor_of, manages, require_managed

SYSTEM = "system"  # the worker and the connection trigger: no user
STAFF = "staff"
DISTRIBUTOR = "distributor"
ORGANIZATION = "organization"


# The targets that depend on the license: functions of the license (as it is before the
# action) and of the moment.
def unchanged(license: License, now: dt.datetime) -> str:
    """The action keeps the status (a change of terms or of locations)."""
    return license.status


def before_denial(license: License, now: dt.datetime) -> str:
    """The status the denial interrupted (pending start if none was kept), or finalized
    once the end date has passed: the cut-off would have finalized it meanwhile."""
    if has_ended(license.end_date, license.timezone, now):
        return S.CONTRACT_FINALIZED
    return license.status_before_denial or S.PENDING_START


def in_use_again(license: License, now: dt.datetime) -> str:
    """A renewal puts a finalized license whose end date has passed back in use; any
    other status stays (a denial too, until a restore lifts it)."""
    ended = has_ended(license.end_date, license.timezone, now)
    return S.IN_USE if license.status == S.CONTRACT_FINALIZED and ended else license.status


Target = str | Callable[[License, dt.datetime], str]


@dataclass(frozen=True)
class Rule:
    kind: EventKind
    sources: frozenset[str]
    target: Target  # the status after the action, or a function of the license that says it
    actors: frozenset[str]  # tenant types (admin role) that may act, or SYSTEM
    assignment: str = ""  # ADDS or REMOVES: the action assigns a location or takes one off


ADDS, REMOVES = "adds", "removes"


def _rule(kind, sources, target, actors, assignment="") -> Rule:
    return Rule(kind, frozenset(sources), target, frozenset(actors), assignment)


ACTIVE = set(ACTIVE_STATUSES)
TRANSITIONS: dict[str, Rule] = {
    "provision": _rule(
        EventKind.PROVISIONED,
        {S.PENDING_PROVISION},
        S.PENDING_START,
        {ORGANIZATION, STAFF},
        ADDS,
    ),
    "start": _rule(EventKind.STARTED, {S.PENDING_START}, S.IN_USE, {SYSTEM}),
    # a denied license ends too: its contract is over at the end date whatever its state
    "cut_off": _rule(
        EventKind.CUT_OFF, {S.IN_USE, S.ACCESS_DENIED}, S.CONTRACT_FINALIZED, {SYSTEM}
    ),
    "deny": _rule(
        EventKind.DENIED, {S.PENDING_START, S.IN_USE}, S.ACCESS_DENIED, {DISTRIBUTOR, STAFF}
    ),
    "restore": _rule(EventKind.RESTORED, {S.ACCESS_DENIED}, before_denial, {DISTRIBUTOR, STAFF}),
    "cancel": _rule(
        EventKind.CANCELLED, {S.PENDING_PROVISION}, S.CONTRACT_FINALIZED, {DISTRIBUTOR, STAFF}
    ),
    "renew": _rule(
        EventKind.RENEWED,
        {S.IN_USE, S.ACCESS_DENIED, S.CONTRACT_FINALIZED},
        in_use_again,
        {DISTRIBUTOR, STAFF},
    ),
    "upgrade": _rule(
        EventKind.UPGRADED, {S.PENDING_PROVISION, *ACTIVE}, unchanged, {DISTRIBUTOR, STAFF}
    ),
    "assign": _rule(EventKind.ASSIGNED, ACTIVE, unchanged, {ORGANIZATION, STAFF}, ADDS),
    "unassign": _rule(EventKind.UNASSIGNED, ACTIVE, unchanged, {ORGANIZATION, STAFF}, REMOVES),
}


# ``check``'s refusal for each action of the table: whole sentences, so each translates
REFUSALS = {
    "provision": gettext_lazy("Cannot provision a license that is %(status)s."),
    "start": gettext_lazy("Cannot start a license that is %(status)s."),
    "cut_off": gettext_lazy("Cannot cut off a license that is %(status)s."),
    "deny": gettext_lazy("Cannot deny a license that is %(status)s."),
    "restore": gettext_lazy("Cannot restore a license that is %(status)s."),
    "cancel": gettext_lazy("Cannot cancel a license that is %(status)s."),
    "renew": gettext_lazy("Cannot renew a license that is %(status)s."),
    "upgrade": gettext_lazy("Cannot upgrade a license that is %(status)s."),
    "assign": gettext_lazy("Cannot assign a license that is %(status)s."),
    "unassign": gettext_lazy("Cannot unassign a license that is %(status)s."),
}


def _serialise(value):
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if hasattr(value, "pk"):
        return value.pk
    return value


def may(user, action: str) -> bool:
    """Whether the user's role takes ``action`` on the licenses it manages: an admin of a
    tenant type the table names (``None``, the system, where the table says so). No
    license is read: the pages' buttons and the API's 403 before a body ask this."""
    rule = TRANSITIONS[action]
    if user is None:
        return SYSTEM in rule.actors
    actor = actor_of(user)
    return actor.is_admin and actor.tenant_type in rule.actors


def require_role(user, action: str) -> None:
    """403 unless ``may(user, action)``."""
    if not may(user, action):
        if user is None:
            raise PermissionDenied(_("This change needs a user."))
        raise PermissionDenied(_("Your role cannot make this change to a license."))


def require_actor(license: License, action: str, user) -> None:
    """403 unless the role may take ``action`` and ``License.objects.managed_by(user)``
    holds the license (the system acts on any). The answer is kept on the row for that
    user and the license's tenants: a function that checks before its own preconditions
    and ``apply_change`` after them ask the database once."""
    require_role(user, action)
    if user is None:
        return
    asked = (user.pk, license.distributor_id, license.partner_id, license.organization_id)
    if getattr(license, "_managed_by", None) != asked:
        require_managed(user, license, _("This license belongs to another tenant."))
        license._managed_by = asked


def check(license: License, action: str, user) -> Rule:
    """403 unless the actor may take ``action`` on this license; then 409 unless the
    license's status allows it. Functions with checks of their own call it first."""
    require_actor(license, action, user)
    return require_status(license, action)


def require_status(license: License, action: str) -> Rule:
    """409 unless the license's status allows ``action`` (whoever asks: a request for a
    change is checked with it before anyone may take the action)."""
    rule = TRANSITIONS[action]
    if license.status not in rule.sources:
        raise Conflict(str(REFUSALS[action]) % {"status": S(license.status).label})
    return rule


def target_status(license: License, action: str, now: dt.datetime) -> str:
    """The status ``action`` leaves ``license`` in at ``now``, as the table says."""
    target = TRANSITIONS[action].target
    return target(license, now) if callable(target) else target


# the changes a person starts from the license view (Send Key starts from a location)
OFFERED = ("upgrade", "renew", "deny", "restore", "cancel", "assign", "unassign")


def available_actions(license: License, user, *, managed: bool | None = None) -> list[str]:
    """The actions ``user`` may start on ``license`` in its current status (the license
    view's buttons): ``check``'s questions, the row's asked once — ``managed`` when the
    caller read it with the license (``with_managed``), else one query.

    Preconditions of a function's own (a renewal needs an end date, a license keeps its
    last location) are not foreseen: the function still refuses, with its message.
    """
    actions = [
        action
        for action in OFFERED
        if may(user, action) and license.status in TRANSITIONS[action].sources
    ]
    if actions and not (manages(user, license) if managed is None else managed):
        return []
    return actions


def lock(license_id: int) -> License:
    """The license row, locked until the end of the transaction (``SELECT … FOR UPDATE``),
    read with its location, its tenants and its latest signed token (``apply_change``
    signs the terms again, naming the tenants, when they differ from the token's: one
    statement instead of five)."""
    # of=("self",): lock the license row only, not the joined rows (lock order)
    return (
        License.objects.select_for_update(of=("self",))
        .select_related("location", "distributor", "partner", "organization", "signed")
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
    location: Location | None = None,
    reason: str = "",
    was: dict | None = None,
    extra: dict | None = None,
    **changes,
) -> License:
    """Apply ``action`` to a locked license: check, move it to the status the table
    names, change ``changes``, assign or take off ``location`` where the table says so,
    store the license of every location this moves (``current.refresh``), record the
    event. Every status change and every assignment passes here (or ``apply_changes``,
    the same for several licenses).

    Must run inside the caller's transaction with ``license`` from ``lock()``.
    ``changes`` are the other fields (never ``status``: the table decides it); ``was``
    and ``extra`` add facts that are not fields (modules) to the event's ``before`` and
    ``after``.
    """
    apply_changes(action, user, [Change(license, changes, location, was, extra)], reason=reason)
    return license


@dataclass
class Change:
    """One license's part of ``apply_changes``: ``apply_change``'s arguments."""

    license: License
    changes: dict
    location: Location | None = None
    was: dict | None = None
    extra: dict | None = None


def apply_changes(action: str, user, items: list[Change], *, reason: str = "") -> None:
    """``apply_change`` of one action to several locked licenses, each with its own
    changes: every license is checked and validated first, then each table is written
    once for all of them (one statement where the changes allow), in the order
    ``apply_change`` writes them. The connection intake starts several licenses a batch."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("apply_change runs inside a transaction, on a locked license")
    applied = []
    for item in items:
        applied.append(_prepare(action, user, item))
    _save([(item.license, changes) for item, _rule, changes, _before in applied])
    # a start or a renewal: the notices of the new cycle
    for replacing in (False, True):
        cycle.plan_all(
            [
                item.license
                for item, _rule, changes, before in applied
                if "end_date" in changes and (before["end_date"] is not None) == replacing
            ],
            replacing=replacing,
        )
    moved = []  # locations whose license this may change
    copied = []  # and licenses whose copies of status and end date the locations list reads
    for item, rule, changes, before in applied:
        license, location = item.license, item.location
        if rule.assignment == ADDS:
            Assignment.objects.create(license=license, location=location, created=clock.now())
            moved.append(location.pk)
        elif rule.assignment == REMOVES:
            license.assignments.filter(location=location).delete()
            moved.append(location.pk)
        if "status" in changes and current.moves(before["status"], changes["status"]):
            # the license may move up or down among its locations' licenses
            moved += [
                license.location_id,
                *license.assignments.values_list("location_id", flat=True),
            ]
        if "status" in changes or "end_date" in changes:
            copied.append(license)
    current.refresh(moved, changed=copied)
    tokens.refresh_all([item.license for item in items])  # new tokens where terms changed
    _record_all(
        [
            (
                item.license,
                rule.kind,
                user,
                reason,
                {**before, **(item.was or {})},
                {
                    **{name: _serialise(value) for name, value in changes.items()},
                    **(item.extra or {}),
                },
            )
            for item, rule, changes, before in applied
        ]
    )


def _prepare(action: str, user, item: Change) -> tuple[Change, Rule, dict, dict]:
    """Check one license's change and apply it to the row in memory, validated: the rule,
    the changes (the status first, if it moves) and the fields as they were."""
    license, location, changes = item.license, item.location, item.changes
    if "status" in changes:
        raise TypeError("apply_change takes the status from the transition table")
    rule = check(license, action, user)
    if (location is None) == bool(rule.assignment):
        raise TypeError(f"{action!r} takes a location exactly when it assigns or takes one off")
    if rule.assignment == ADDS:
        item.extra = {**(item.extra or {}), "location": str(location.pk)}
    elif rule.assignment == REMOVES:
        item.was = {**(item.was or {}), "location": str(location.pk)}
    # from the license as it is before the change (a renewal moves the end date)
    status = target_status(license, action, clock.now())
    if status != license.status:
        changes = {"status": status, **changes}
    before = {name: _serialise(getattr(license, name)) for name in changes}
    for name, value in changes.items():
        setattr(license, name, value)
    if changes:
        # only what changes is validated: the rest was valid when it was stored (and a
        # foreign key's check is a query each)
        unchanged = [f.name for f in license._meta.concrete_fields if f.name not in changes]
        license.full_clean(exclude=unchanged, validate_unique=False, validate_constraints=False)
    return item, rule, changes, before


def _save(changed: list[tuple[License, dict]]) -> None:
    """The changed fields of each license: a plain save for a license alone; for several,
    one UPDATE per distinct set of new values (a batch's starts share one or two dates)."""
    changed = [(license, changes) for license, changes in changed if changes]
    if len(changed) == 1:
        license, changes = changed[0]
        license.save(update_fields=list(changes))
        return
    groups = defaultdict(list)
    for license, changes in changed:
        values = {name: getattr(license, name) for name in changes}  # as validated
        try:
            groups[tuple(values.items())].append(license.pk)
        except TypeError:  # a value that cannot be a key: its own statement
            license.save(update_fields=list(changes))
    for values, ids in groups.items():
        License.objects.filter(pk__in=ids).update(**dict(values))


def created(license: License, user, *, after: dict) -> None:
    """A license was generated (``pending_provision``): its history starts, and it shows
    at the location it was generated for, and its first signed token is issued. Every
    new license passes here."""
    current.refresh([license.location_id])
    tokens.issue(license)
    record(license, EventKind.CREATED, user, after=after)


def record(license: License, kind: EventKind, user, *, reason="", before=None, after=None):
    """Append one history event (the "Upgrades" tab) in the caller's transaction, and
    its entry in the audit log (the one place both are written)."""
    return _record_all([(license, kind, user, reason, before, after)])[0]


def _record_all(events: list[tuple]) -> list[LicenseEvent]:
    """``record`` for several (license, kind, user, reason, before, after): one
    statement for the history, one for the log."""
    rows = []
    for license, kind, user, reason, before, after in events:
        actor = user if user is not None and user.is_authenticated else None
        rows.append((license, kind, actor, reason, before, after))
    audit.record_license_events(rows)
    return LicenseEvent.objects.bulk_create(
        [
            LicenseEvent(
                license=license,
                at=clock.now(),
                actor=actor,
                actor_name=actor.get_username() if actor else SYSTEM,
                kind=kind,
                reason=reason,
                before=before or {},
                after=after or {},
            )
            for license, kind, actor, reason, before, after in rows
        ]
    )


# --- The transitions with rules of their own ------------------------------------


@transaction.atomic
def start(license_id: int, start_date: dt.date, evidence: dict | None = None) -> License:
    """pending_start → in_use, from the device trigger or the fixed start date (no user)."""
    return start_locked(lock(license_id), start_date, evidence)


def start_locked(license: License, start_date: dt.date, evidence: dict | None = None) -> License:
    """``start`` for a caller that holds the license's lock already, in its transaction
    (the device trigger locks the license before it counts devices)."""
    start_all([(license, start_date, evidence)])
    return license


def start_all(starts: list[tuple[License, dt.date, dict | None]]) -> None:
    """``start_locked`` for several (license, start date, evidence), one statement per
    table for all of them (the connection intake starts several licenses a batch)."""
    apply_changes(
        "start",
        None,
        [
            Change(
                license,
                {"start_date": start_date, "end_date": add_years(start_date, license.years)},
                extra=evidence,
            )
            for license, start_date, evidence in starts
        ],
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
    return apply_change(license, "cut_off", None)


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
    if target_status(license, "restore", clock.now()) in ACTIVE:
        require_not_over_limit(license, upgradable=_upgradable(license))
    return apply_change(license, "restore", user, reason=reason, status_before_denial="")


@transaction.atomic
def cancel(user, license_id: int, reason: str) -> License:
    license = lock(license_id)
    return apply_change(license, "cancel", user, reason=require_reason(reason))


def require_renewable(license: License) -> None:
    """409 with why unless ``license`` can be renewed now: its status allows it, it has
    started (a renewal moves an end date), and its locations hold no more elements than
    it allows (they may have grown while it was finalized and limited nothing). What
    ``renew`` checks, and what a request for a renewal is checked against when it is
    made and again when it is approved."""
    require_status(license, "renew")
    if license.end_date is None:
        raise Conflict(
            _("Only a license that has started can be renewed; this one is %(status)s.")
            % {"status": S(license.status).label}
        )
    require_not_over_limit(license, upgradable=_upgradable(license))


def _origin(request_id: int | None) -> dict:
    """What an event records of the request a change applies (the history names it)."""
    return {"request": request_id} if request_id is not None else {}


@transaction.atomic
def renew(
    user, license_id: int, years: int, reason: str = "", *, request_id: int | None = None
) -> License:
    """Before the end the end date moves by N years (a denial stays); after it, a new
    term of N years runs from today and the license is in use again. Not while its
    locations hold more elements than it allows. ``request_id``: the request for a
    renewal this approves, named in the event."""
    license = lock(license_id)
    require_actor(license, "renew", user)
    require_renewable(license)
    today = clock.today_in(license.timezone)
    ended = has_ended(license.end_date, license.timezone, clock.now())
    start_date, end_date = renewal_term(license.end_date, today, years)
    changes = {"end_date": end_date}
    if ended:  # a finalized license is in use again (the table's target)
        changes.update(start_date=start_date)
        if license.status == S.ACCESS_DENIED:  # the denial stays; in use once restored
            changes.update(status_before_denial=S.IN_USE)
    extra = {"years": years, **_origin(request_id)}
    return apply_change(license, "renew", user, reason=reason, extra=extra, **changes)


class UnknownKey(Exception):
    """An unknown key and another organization's key: one answer, so keys can't be probed."""

    # what the API and the Send Key page say
    message = gettext_lazy("No license with this key can be activated here.")


@transaction.atomic
def provision(user, location, key_text: str) -> License:
    """Send Key: pending_provision → pending_start, assigned to ``location``.

    The key must be one made for a location of the same organization. The location row
    is locked first, then the license, so concurrent activations serialise.
    """
    require_role(user, "provision")  # before the key says anything
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
        location=location,
        organization=location.organization,
        provisioned=clock.now(),
        timezone=location.timezone,
    )
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
    distributor set. The notifier calls it on each pass; safe to run twice.
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


# What Send Key and ``assign`` ask of a location, each as a condition on ``Location``
# rows: the functions check one location against it (each with its refusal), and
# ``assignable`` offers the locations that meet them all (the Assign form's choices).


def _type_fits(license: License) -> Q:
    """Rooms are configured at hospitality locations only: a rooms license elsewhere
    would limit nothing."""
    return Q(sector=Sector.HOSPITALITY) if license.license_type == LicenseType.ROOMS else Q()


def _free() -> Exists:
    """Locations that hold no active license (a location holds one at a time)."""
    return ~Exists(Assignment.objects.filter(location=OuterRef("pk"), license__status__in=ACTIVE))


def _meets(location: Location, condition) -> bool:
    return Location.objects.filter(condition, pk=location.pk).exists()


def _require_type_fits(license: License, location: Location) -> None:
    if not _meets(location, _type_fits(license)):
        raise Conflict(_("A rooms license can only be used at hospitality locations."))


def _require_free(location: Location) -> None:
    """Checked under the location's row lock."""
    if not _meets(location, _free()):
        raise Conflict(_("This location already holds an active license."))


def assignable(license: License) -> QuerySet:
    """The locations ``assign`` accepts for ``license`` now: of its organization, not
    assigned to it yet, free, of a sector its type fits, and within its limit counted
    with their elements (``require_within_limit`` over ``elements_in_use``, the same
    counts). The Assign form offers these; ``assign`` still decides under the locks."""
    model = element_model(license)
    room = license.limit - elements_in_use(license)
    return (
        Location.objects.filter(organization_id=license.organization_id)
        .exclude(assignments__license=license)
        .filter(_free(), _type_fits(license))
        .alias(adding=elements_at(model, location=OuterRef("pk")))
        .filter(adding__lte=room)
    )


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
    return apply_change(license, "assign", user, location=location)


@transaction.atomic
def unassign(user, license_id: int, location: Location) -> License:
    """Take a location off the license; its last location stays (cancel or deny instead)."""
    license = lock(license_id)
    check(license, "unassign", user)
    if not license.assignments.filter(location=location).exists():
        raise Conflict(_("The license is not assigned to this location."))
    if license.assignments.count() == 1:
        raise Conflict(_("A license keeps at least one location."))
    return apply_change(license, "unassign", user, location=location)


def module_codes(license: License) -> list[str]:
    return sorted(license.modules.values_list("code", flat=True))


@dataclass(frozen=True)
class UpgradePlan:
    """What an upgrade changes: the fields (``limit``) and the module codes before and
    after (equal when the modules stay)."""

    changes: dict
    codes: list[str]
    new_codes: list[str]


def plan_upgrade(
    license: License,
    *,
    limit: int | None = None,
    add_modules: Iterable[Module] = (),
    remove_modules: Iterable[Module] = (),
) -> UpgradePlan:
    """What ``upgrade`` would change on ``license`` as it is, or why not: 409 for a
    status that allows no upgrade and for a limit below the elements in use, 400 for a
    module both added and removed and for nothing to change. A request for an upgrade is
    checked with it when it is made, and again (by ``upgrade``) when it is approved."""
    require_status(license, "upgrade")
    add, remove = {m.code for m in add_modules}, {m.code for m in remove_modules}
    if add & remove:
        raise ValidationError({"add_modules": [_("A module cannot be added and removed.")]})
    codes = module_codes(license)
    changes = {}
    if limit is not None and limit != license.limit:
        require_within_limit(license, elements_in_use(license), limit=limit)
        changes["limit"] = limit
    new_codes = sorted((set(codes) | add) - remove)
    if not changes and new_codes == codes:
        raise ValidationError({"non_field_errors": [_("Nothing to change.")]})
    return UpgradePlan(changes, codes, new_codes)


@transaction.atomic
def upgrade(
    user,
    license_id: int,
    *,
    limit: int | None = None,
    add_modules: Iterable[Module] = (),
    remove_modules: Iterable[Module] = (),
    reason: str = "",
    request_id: int | None = None,
) -> License:
    """Change the limit and the modules (``plan_upgrade`` says what, or why not).
    ``request_id``: the request for an upgrade this approves, named in the event."""
    license = lock(license_id)
    require_actor(license, "upgrade", user)
    add, remove = set(add_modules), set(remove_modules)
    plan = plan_upgrade(license, limit=limit, add_modules=add, remove_modules=remove)
    was, extra = {}, _origin(request_id)
    if plan.new_codes != plan.codes:
        was, extra = {"modules": plan.codes}, {"modules": plan.new_codes, **extra}
    # the modules first: apply_change signs the terms as they are after the change
    license.modules.add(*add)
    license.modules.remove(*remove)
    return apply_change(
        license, "upgrade", user, reason=reason, was=was, extra=extra, **plan.changes
    )
