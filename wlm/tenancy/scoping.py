"""The one door to rows: who is acting, and what they may see and manage.

``Model.objects.visible_to(user)`` is the only way views and the API get rows
(reads); ``Model.objects.managed_by(user)`` is what an admin may change (writes).
A row outside ``visible_to`` does not exist for that user (404).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.db import models
from django.db.models import Case, Exists, F, OuterRef, Q, When
from django.utils.translation import gettext as _

STAFF = "staff"
ADMIN = "admin"
GATEWAY = "gateway"


@dataclass(frozen=True)
class Actor:
    """The tenant and role a request acts for, resolved once per user object."""

    user_id: int | None
    username: str
    tenant_type: str | None  # None: anonymous, or a user without a membership
    tenant_id: int | None
    role: str | None

    @property
    def is_staff(self) -> bool:
        """Platform operator with a human role (not the gateway)."""
        return self.tenant_type == STAFF and self.role != GATEWAY

    @property
    def is_gateway(self) -> bool:
        return self.role == GATEWAY

    @property
    def is_admin(self) -> bool:
        return self.role == ADMIN


NOBODY = Actor(user_id=None, username="", tenant_type=None, tenant_id=None, role=None)


def actor_of(user) -> Actor:
    """The actor of ``user``; a superuser without a membership acts as staff admin."""
    if user is None or not user.is_authenticated:
        return NOBODY
    cached = getattr(user, "_wlm_actor", None)
    if cached is not None:
        return cached
    try:
        membership = user.membership  # select_related("membership") makes this free
    except ObjectDoesNotExist:
        membership = None
    if membership is not None:
        actor = Actor(
            user_id=user.pk,
            username=user.get_username(),
            tenant_type=membership.tenant_type,
            tenant_id=membership.tenant_id,
            role=membership.role,
        )
    elif user.is_superuser:
        actor = Actor(user.pk, user.get_username(), STAFF, None, ADMIN)
    else:
        actor = Actor(user.pk, user.get_username(), None, None, None)
    user._wlm_actor = actor
    return actor


class ScopedQuerySet(models.QuerySet):
    """A queryset with the tenancy door. Subclasses say what a tenant reaches."""

    def visible_to(self, user, *, data_plane: bool = False) -> ScopedQuerySet:
        """``data_plane=True``: the gateway's read of entitlements sees every row."""
        actor = actor_of(user)
        if actor.is_staff or (data_plane and actor.is_gateway):
            return self.all()
        if actor.tenant_type is None or actor.is_gateway:
            return self.none()
        condition = self._visible_filter(actor)
        return self.filter(condition) if condition is not None else self.none()

    def visible_through(self, path: str, user) -> Q:
        """``visible_to(user)`` as a condition on rows of another model that reach a row
        of this one through ``path`` (``"current__license"``): true when that row exists
        and the user sees it. For masking a joined row in the one query of a list,
        instead of a subquery per row."""
        actor = actor_of(user)
        reached = Q(**{f"{path}__isnull": False})
        if actor.is_staff:
            return reached
        condition = None
        if actor.tenant_type is not None and not actor.is_gateway:
            condition = self._visible_filter(actor)
        if condition is None:
            return Q(pk__in=[])  # nothing: an always-false condition
        return reached & _through(path, condition)

    def shown_through(self, path: str, user, field: str):
        """``field`` of the row of this model that rows of another model reach through
        ``path``, or NULL where ``user`` does not see that row (``visible_through``): one
        masked column of a list of other rows."""
        return Case(When(self.visible_through(path, user), then=F(f"{path}__{field}")))

    def managed_by(self, user) -> ScopedQuerySet:
        """Rows an admin of the user's tenant may create under or change."""
        actor = actor_of(user)
        if not self._manages_some(actor):
            return self.none()
        return self.all() if actor.is_staff else self.filter(self._managed_filter(actor))

    def may_manage(self, user) -> bool:
        """Whether ``managed_by(user)`` can hold rows at all, asked without a query: the
        role's right, for a button or a 403 before any row is looked up."""
        return self._manages_some(actor_of(user))

    def _manages_some(self, actor: Actor) -> bool:
        if not actor.is_admin or actor.tenant_type is None:
            return False
        return actor.is_staff or self._managed_filter(actor) is not None

    def with_managed(self, user) -> ScopedQuerySet:
        """Each row with ``managed``: whether ``managed_by(user)`` holds it, in the same
        query (a page that shows a row's buttons without asking once more)."""
        managed = self.model.objects.managed_by(user).filter(pk=OuterRef("pk"))
        return self.annotate(managed=Exists(managed))

    def _visible_filter(self, actor: Actor) -> Q | None:
        raise NotImplementedError

    def _managed_filter(self, actor: Actor) -> Q | None:
        raise NotImplementedError


class ChildScopedQuerySet(ScopedQuerySet):
    """Scope inherited from a parent row: ``parent_path`` names the foreign key."""

    parent_path: str

    def _parent_queryset(self) -> ScopedQuerySet:
        field = self.model._meta.get_field(self.parent_path.split("__")[0])
        model = field.related_model
        for part in self.parent_path.split("__")[1:]:
            model = model._meta.get_field(part).related_model
        return model.objects.all()

    def _through_parent(self, parent_filter: str, actor: Actor) -> Q | None:
        parent = self._parent_queryset()
        condition = getattr(parent, parent_filter)(actor)
        if condition is None:
            return None
        return Q(**{f"{self.parent_path}__in": parent.filter(condition).values("pk")})

    def _visible_filter(self, actor: Actor) -> Q | None:
        return self._through_parent("_visible_filter", actor)

    def _managed_filter(self, actor: Actor) -> Q | None:
        return self._through_parent("_managed_filter", actor)


def _through(path: str, condition: Q) -> Q:
    """``condition`` on a model, rewritten for rows that reach it through ``path``."""
    children = [
        _through(path, child) if isinstance(child, Q) else (f"{path}__{child[0]}", child[1])
        for child in condition.children
    ]
    return Q.create(children, connector=condition.connector, negated=condition.negated)


def manages(user, obj) -> bool:
    """Whether ``managed_by(user)`` holds ``obj`` (one query)."""
    return type(obj).objects.managed_by(user).filter(pk=obj.pk).exists()


def require_managed(user, obj, message: str | None = None) -> None:
    """403 unless ``user`` is an admin who manages ``obj`` (its tenant or above);
    ``message`` says why in the rule's own words."""
    if not manages(user, obj):
        raise PermissionDenied(message or _("You cannot change this resource."))
