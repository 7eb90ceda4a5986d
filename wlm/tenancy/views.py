"""Logging in and resetting a password: Django's views behind the throttles; the page of
a user's API tokens.

The rules are in ``wlm.tenancy.throttles``; these views only show a refusal: 429 with
Retry-After and the form saying how long to wait (as Send Key's page does).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse, reverse_lazy
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext
from django.views.decorators.http import require_http_methods

from wlm.lib import clock
from wlm.lib.views import apply_service
from wlm.tenancy import services, throttles, tokens
from wlm.tenancy.forms import DeactivateForm, InviteForm, LoginForm, RoleForm, TokenForm
from wlm.tenancy.invitations import invitation_tokens
from wlm.tenancy.models import ApiToken, Membership, Role


def answers_throttled(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A login view whose throttled attempt (the form's ``throttled_wait``) answers 429
    with Retry-After; the page is the same form with its error."""

    @wraps(view)
    def login(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        response = view(request, *args, **kwargs)
        form = (getattr(response, "context_data", None) or {}).get("form")
        wait = getattr(form, "throttled_wait", None)
        if wait is not None:
            response.status_code = 429
            response["Retry-After"] = throttles.retry_after(wait)
        return response

    return login


site_login = answers_throttled(auth_views.LoginView.as_view(authentication_form=LoginForm))
# the admin's own view (its page, its "next"); its form is AdminLoginForm (tenancy/admin.py)
admin_login = answers_throttled(admin.site.login)


class PasswordResetView(auth_views.PasswordResetView):
    """Django's reset page, limited per client address (the form says to wait) and per
    e-mail address (silently: the page answers "sent" whether or not an e-mail went)."""

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        wait = throttles.password_reset_wait(request)
        if wait is None:
            return super().post(request, *args, **kwargs)
        form = self.get_form()
        form.is_valid()
        form.add_error(
            None,
            gettext("Too many password reset requests. Try again in %(wait)s.")
            % {"wait": throttles.wait_text(wait)},
        )
        response = self.render_to_response(self.get_context_data(form=form), status=429)
        response["Retry-After"] = throttles.retry_after(wait)
        return response

    def form_valid(self, form) -> HttpResponse:
        if throttles.may_send_password_reset(form.cleaned_data["email"]):
            return super().form_valid(form)
        return HttpResponseRedirect(self.get_success_url())


# --- API tokens (/tokens/; docs/pages.md, "API tokens") ---------------------------------
OTHERS_SHOWN = 100  # the newest tokens of the users an admin manages (staff: everyone's)


def _token_rows(request: HttpRequest) -> dict:
    """The user's own tokens, and the newest of the users they see, not revoked; each
    with whether the user may revoke it."""
    user = request.user
    now = clock.now()
    visible = ApiToken.objects.visible_to(user).filter(revoked__isnull=True)
    own = list(visible.filter(user=user))
    others = list(visible.exclude(user=user).select_related("user")[: OTHERS_SHOWN + 1])
    managed = set(
        ApiToken.objects.managed_by(user)
        .filter(pk__in=[token.pk for token in others])
        .values_list("pk", flat=True)
    )
    for token in own + others:
        token.state = token.state_at(now)
        token.may_revoke = token.user_id == user.pk or token.pk in managed
    return {"own": own, "others": others[:OTHERS_SHOWN], "more": len(others) > OTHERS_SHOWN}


@login_required
@require_http_methods(["GET", "POST"])
def api_tokens(request: HttpRequest) -> HttpResponse:
    """``/tokens/``: the user's API tokens, and a form to make one. The new token's secret
    is in the answer to that POST and nowhere else (not stored, not in a redirect)."""
    form = TokenForm(request.POST or None)
    created = None
    status = 200
    if form.is_bound:
        if form.is_valid():
            data = form.cleaned_data
            token, key = tokens.issue(request.user, data["name"], data["scope"], form.expires())
            created = {"token": token, "key": key}
            form = TokenForm()
        else:
            status = 400
    context = {"form": form, "created": created, **_token_rows(request)}
    return render(request, "tenancy/tokens.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def revoke_api_token(request: HttpRequest, pk: int) -> HttpResponse:
    """``/tokens/{id}/revoke/``: GET the confirmation (a modal ``<dialog>`` for htmx, else
    a page), POST to revoke. A token the user does not see is a 404; one they see but may
    not revoke, the 403 page."""
    token = get_object_or_404(
        ApiToken.objects.visible_to(request.user).select_related("user"), pk=pk
    )
    if not ApiToken.objects.managed_by(request.user).filter(pk=token.pk).exists():
        raise PermissionDenied(gettext("You cannot revoke this token."))
    if request.method == "POST":
        tokens.revoke(request.user, token)
        messages.success(
            request, gettext("The token “%(name)s” is revoked.") % {"name": token.name}
        )
        return HttpResponseRedirect(reverse("tokens"))
    htmx = getattr(request, "htmx", None)
    template = (
        "tenancy/includes/revoke_token_dialog.html"
        if htmx and htmx.target == "dialog"
        else "tenancy/revoke_token.html"
    )
    return render(request, template, {"token": token})


# --- Users (/users/; docs/pages.md, "Users") ---------------------------------------------
USERS_PER_PAGE = 50


def _require_user_admin(request: HttpRequest) -> None:
    """The page is for the admins of a tenant and staff admins: viewers and the gateway
    get the 403 page."""
    if not Membership.objects.may_manage(request.user):
        raise PermissionDenied(gettext("Only administrators manage users."))


def _user_rows(request: HttpRequest, tenants: list[tuple[str, str]]) -> dict:
    """The users the admin manages (staff: everyone but the data plane's account), by
    username, filtered by ``tenant`` (one of ``tenants``) and ``q``, a page of them."""
    memberships = (
        Membership.objects.visible_to(request.user)
        .exclude(role=Role.GATEWAY)
        .select_related("user", "distributor", "partner", "organization")
        .order_by("user__username", "pk")
    )
    chosen = request.GET.get("tenant", "")
    if chosen in dict(tenants):
        tenant_type, tenant_id = services.parse_tenant(chosen)
        memberships = memberships.filter(tenant_type=tenant_type)
        if tenant_id is not None:
            memberships = memberships.filter(**{f"{tenant_type}_id": tenant_id})
    else:
        chosen = ""
    query = " ".join(request.GET.get("q", "").split())[:100]
    if query:
        memberships = memberships.filter(
            Q(user__username__icontains=query)
            | Q(user__email__icontains=query)
            | Q(user__first_name__icontains=query)
        )
    page = Paginator(memberships, USERS_PER_PAGE).get_page(request.GET.get("page"))
    for membership in page:
        person = membership.user
        person.state = (
            "deactivated"
            if not person.is_active
            else "invited"
            if services.invitation_pending(person)
            else "active"
        )
        person.is_self = person.pk == request.user.pk
    roles = RoleForm.base_fields["role"].choices
    return {"page": page, "chosen": chosen, "query": query, "role_choices": roles}


@login_required
@require_http_methods(["GET", "POST"])
def users(request: HttpRequest) -> HttpResponse:
    """``/users/``: the users of the admin's tenants, and the invitation form (POST)."""
    _require_user_admin(request)
    tenants = services.managed_tenants(request.user)
    chosen = request.GET.get("tenant", "")
    initial = {"tenant": chosen} if chosen in dict(tenants) else {}
    data = request.POST if request.method == "POST" else None
    form = InviteForm(data, tenants=tenants, initial=initial)
    status = 200
    if form.is_bound:
        invited = None
        if form.is_valid():
            data = form.cleaned_data
            tenant_type, tenant_id = services.parse_tenant(data["tenant"])
            invited = apply_service(
                form,
                lambda: services.invite_user(
                    request.user,
                    email=data["email"],
                    name=data["name"],
                    role=data["role"],
                    language=data["language"],
                    tenant_type=tenant_type,
                    tenant_id=tenant_id,
                ),
            )
        if invited is not None:
            messages.success(
                request,
                gettext("An invitation was sent to %(email)s.") % {"email": invited.email},
            )
            return HttpResponseRedirect(request.get_full_path())
        status = 400
    context = {"form": form, "tenants": tenants, **_user_rows(request, tenants)}
    return render(request, "tenancy/users.html", context, status=status)


def _visible_person(request: HttpRequest, pk: int):
    visible = Membership.objects.visible_to(request.user).exclude(role=Role.GATEWAY)
    return get_object_or_404(
        get_user_model().objects.select_related("membership"), pk=pk, membership__in=visible
    )


@login_required
@require_http_methods(["POST"])
def change_user_role(request: HttpRequest, pk: int) -> HttpResponse:
    """``/users/{id}/role/`` (POST): make the user an administrator or a viewer."""
    _require_user_admin(request)
    person = _visible_person(request, pk)
    form = RoleForm(request.POST)
    if form.is_valid() and apply_service(
        form, lambda: services.change_role(request.user, person, form.cleaned_data["role"])
    ):
        messages.success(
            request,
            gettext("%(user)s is now: %(role)s.")
            % {"user": person.get_username(), "role": person.membership.get_role_display()},
        )
        return HttpResponseRedirect(_back_to_users(request))
    return _refused(request, form, person)


def _back_to_users(request: HttpRequest) -> str:
    """The list the form was sent from (its filters kept), else ``/users/``."""
    back = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(back, allowed_hosts=None) and back.startswith("/users/"):
        return back
    return reverse("users")


def _refused(request: HttpRequest, form, person) -> HttpResponse:
    """A refused change: the confirmation page with the rule's message, 400."""
    errors = [str(error) for error in form.non_field_errors()]
    errors += [str(error) for field in form for error in field.errors]
    return render(
        request,
        "tenancy/user_refused.html",
        {"person": person, "errors": errors},
        status=400,
    )


@login_required
@require_http_methods(["GET", "POST"])
def deactivate_user(request: HttpRequest, pk: int) -> HttpResponse:
    """``/users/{id}/deactivate/``: GET the confirmation (a modal ``<dialog>`` for htmx,
    else a page), POST to deactivate."""
    _require_user_admin(request)
    person = _visible_person(request, pk)
    form = DeactivateForm(request.POST if request.method == "POST" else None)
    if request.method == "POST":
        if form.is_valid() and apply_service(
            form, lambda: services.deactivate_user(request.user, person)
        ):
            messages.success(
                request,
                gettext("%(user)s is deactivated.") % {"user": person.get_username()},
            )
            return HttpResponseRedirect(_back_to_users(request))
        return _refused(request, form, person)
    htmx = getattr(request, "htmx", None)
    template = (
        "tenancy/includes/deactivate_user_dialog.html"
        if htmx and htmx.target == "dialog"
        else "tenancy/deactivate_user.html"
    )
    return render(request, template, {"person": person, "next": request.GET.get("next", "")})


class AcceptInvitationView(auth_views.PasswordResetConfirmView):
    """``/invitation/<uid>/<token>/``: the invitee sets their password, once. Django's
    reset confirmation (the token moves into the session, then the page is reloaded
    without it) with the invitation's own token; a used, expired or deactivated link is
    the page saying so."""

    token_generator = invitation_tokens
    template_name = "tenancy/accept_invitation.html"
    success_url = reverse_lazy("login")
    post_reset_login = False

    def get_user(self, uidb64):
        person = super().get_user(uidb64)
        return person if person is not None and person.is_active else None

    def form_valid(self, form):
        response = super().form_valid(form)
        messages.success(
            self.request, gettext("Your password is set. Log in with your e-mail address.")
        )
        return response


accept_invitation = AcceptInvitationView.as_view()
