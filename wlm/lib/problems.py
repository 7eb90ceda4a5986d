"""RFC 9457 problem details for every error the API answers.

DRF's exceptions, Django's 404/403 and validation errors all become
``application/problem+json`` with ``type``, ``title``, ``status``, ``detail`` and,
for invalid input, ``errors`` per field.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Sequence
from http import HTTPStatus

from django.apps import apps
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, models, transaction
from django.http import Http404, HttpResponse
from django.template import loader
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework.views import set_rollback

from wlm.lib import database

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_BASE = "https://wifi-license-manager.example/problems/"
UNIQUE_VIOLATION = "23505"  # PostgreSQL's SQLSTATE
SQLITE_UNIQUE = "UNIQUE constraint failed: "

# The ``title`` of each problem: the status's reason phrase (Python's ``HTTPStatus``
# wording), translated, so an answer is in one language; ``type`` and ``status`` stay
# machine identifiers. A status not listed here keeps the English phrase.
TITLES = {
    400: _("Bad Request"),
    401: _("Unauthorized"),
    403: _("Forbidden"),
    404: _("Not Found"),
    405: _("Method Not Allowed"),
    406: _("Not Acceptable"),
    409: _("Conflict"),
    410: _("Gone"),
    412: _("Precondition Failed"),
    413: _("Request Entity Too Large"),
    415: _("Unsupported Media Type"),
    422: _("Unprocessable Entity"),
    429: _("Too Many Requests"),
    500: _("Internal Server Error"),
    502: _("Bad Gateway"),
    503: _("Service Unavailable"),
    504: _("Gateway Timeout"),
}


class Conflict(exceptions.APIException):
    """409: the request conflicts with the current state (limit, status, used key, a
    duplicate). ``fields``: the fields the conflict is about, answered as ``errors``."""

    status_code = 409
    default_detail = _("The request conflicts with the current state.")
    default_code = "conflict"

    def __init__(self, detail=None, code=None, *, fields: Sequence[str] = ()):
        super().__init__(detail, code)
        self.errors = {field: [str(self.detail)] for field in fields} or None


# --- Unique constraints: a duplicate is a 409 naming the field ----------------------
UniqueKey = tuple[type[models.Model], tuple[str, ...]]


@functools.cache
def _unique_keys() -> tuple[dict[str, UniqueKey], dict[tuple[str, frozenset], UniqueKey]]:
    """Every unique key of the installed models, by constraint name (what PostgreSQL
    reports) and by table and columns (what SQLite reports). Names of ``unique=True``
    columns are PostgreSQL's own (``<table>_<column>_key``, ``<table>_pkey``)."""
    by_name: dict[str, UniqueKey] = {}
    by_columns: dict[tuple[str, frozenset], UniqueKey] = {}
    for model in apps.get_models():
        opts = model._meta
        if opts.proxy:
            continue
        keys = [
            (constraint.name, tuple(constraint.fields))
            for constraint in opts.constraints
            if isinstance(constraint, models.UniqueConstraint)
            and constraint.fields
            and constraint.condition is None
        ]
        keys += [(None, tuple(fields)) for fields in opts.unique_together]
        keys += [
            (_column_key_name(opts.db_table, field), (field.name,))
            for field in opts.local_fields
            if field.unique
        ]
        for name, fields in keys:
            key = (model, fields)
            columns = frozenset(opts.get_field(field).column for field in fields)
            by_columns[(opts.db_table, columns)] = key
            if name:
                by_name[name] = key
    return by_name, by_columns


def _column_key_name(table: str, field: models.Field) -> str:
    return f"{table}_pkey" if field.primary_key else f"{table}_{field.column}_key"


def unique_violation(error: IntegrityError) -> UniqueKey | None:
    """The model and fields of the unique key ``error`` broke; None for any other
    integrity error (a foreign key, a check: a bug, not a duplicate)."""
    by_name, by_columns = _unique_keys()
    cause = error.__cause__
    diag = getattr(cause, "diag", None)
    if diag is not None:  # PostgreSQL (psycopg): the constraint's name
        if getattr(cause, "sqlstate", None) != UNIQUE_VIOLATION:
            return None
        return by_name.get(diag.constraint_name)
    message = str(error)
    if not message.startswith(SQLITE_UNIQUE):  # SQLite: "…failed: table.col, table.col"
        return None
    qualified = [item.strip().rpartition(".") for item in message[len(SQLITE_UNIQUE) :].split(",")]
    tables = {table for table, _dot, _column in qualified}
    if len(tables) != 1:
        return None
    return by_columns.get((tables.pop(), frozenset(column for *_, column in qualified)))


def duplicate(model: type[models.Model], fields: Sequence[str], message=None) -> Conflict:
    """The 409 for a value another row already holds. It names the fields the caller
    chose, not the relations the server sets (an organization's partner, an access
    point's location); the message is ``message`` or Django's "… already exists"."""
    chosen = [name for name in fields if not model._meta.get_field(name).is_relation]
    if message is None:
        message = model().unique_error_message(model, list(fields)).messages[0]
    return Conflict(message, fields=chosen or [fields[-1]])


def save_unique(obj: models.Model, message=None, **save_options) -> None:
    """Save ``obj`` in a savepoint; a unique key it breaks, already taken or taken by a
    concurrent request a moment earlier, becomes the 409 of ``duplicate``. Any other
    integrity error propagates."""
    try:
        with transaction.atomic():
            obj.save(**save_options)
    except IntegrityError as error:
        key = unique_violation(error)
        if key is None:
            raise
        raise duplicate(*key, message) from None


def _problem_type(code: str | None) -> str:
    if code:
        return PROBLEM_BASE + code.replace("_", "-")
    return "about:blank"


def problem_body(
    status: int, detail: str, *, code: str | None = None, extensions: dict | None = None
) -> dict:
    """The members of a problem: ``type``, ``title``, ``status``, ``detail`` and the
    ``extensions`` (which never replace those). Also what the answers made before Django
    (the probes, wlm.operations) send."""
    body = {
        "type": _problem_type(code),
        "title": str(TITLES.get(status, HTTPStatus(status).phrase)),
        "status": status,
        "detail": str(detail),
    }
    for name, value in (extensions or {}).items():
        body.setdefault(name, value)
    return body


def problem_response(
    status: int,
    detail: str,
    *,
    code: str | None = None,
    errors: dict | None = None,
    headers: dict | None = None,
    extensions: dict | None = None,
) -> HttpResponse:
    """A problem+json response. Plain HttpResponse, so every format gets the same body.

    ``extensions``: RFC 9457 extension members (the numbers of a refused limit); they
    never replace the standard ones."""
    body = problem_body(status, detail, code=code, extensions=extensions)
    if errors is not None:
        body["errors"] = errors
    response = HttpResponse(
        json.dumps(body, ensure_ascii=False), status=status, content_type=PROBLEM_CONTENT_TYPE
    )
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def _flatten(detail) -> dict[str, list[str]]:
    """DRF error details as ``{"field": ["message", ...]}``; nested fields get dotted names."""
    if isinstance(detail, list):
        if all(not isinstance(item, (dict, list)) for item in detail):
            return {"non_field_errors": [str(item) for item in detail]}
        flat: dict[str, list[str]] = {}
        for index, item in enumerate(detail):
            for key, messages in _flatten(item).items():
                name = str(index) if key == "non_field_errors" else f"{index}.{key}"
                flat.setdefault(name, []).extend(messages)
        return flat
    if isinstance(detail, dict):
        flat = {}
        for field, value in detail.items():
            if isinstance(value, dict) or (
                isinstance(value, list) and any(isinstance(v, (dict, list)) for v in value)
            ):
                for key, messages in _flatten(value).items():
                    name = field if key == "non_field_errors" else f"{field}.{key}"
                    flat.setdefault(name, []).extend(messages)
            elif isinstance(value, list):
                flat.setdefault(str(field), []).extend(str(v) for v in value)
            else:
                flat.setdefault(str(field), []).append(str(value))
        return flat
    return {"non_field_errors": [str(detail)]}


UNAVAILABLE_DETAIL = _("The database cannot be reached just now. Try again in a few seconds.")


def unavailable(request=None) -> HttpResponse:
    """503 with ``Retry-After``: the database is away (``wlm.lib.database``). A problem,
    but for a browser asking for a page (``Accept`` names ``text/html``, outside the
    API), which gets the page ``503.html``: rendered without the request, whose context
    (the user, the tenant) would read the database."""
    retry = {"Retry-After": str(database.RETRY_AFTER)}
    wants_page = (
        request is not None
        and not _is_api(request)
        and "text/html" in request.headers.get("Accept", "")
    )
    if wants_page:
        page = loader.get_template("503.html").render()
        return HttpResponse(page, status=503, headers=retry)
    return problem_response(503, UNAVAILABLE_DETAIL, code="unavailable", headers=retry)


def exception_handler(exc, context):
    """DRF's EXCEPTION_HANDLER: every handled error becomes a problem response."""
    if database.is_away(exc):  # the connection is dropped: the next request opens one
        set_rollback()
        database.drop_connection()
        database.answered_away.send(sender=exception_handler, error=exc)
        return unavailable(context.get("request"))
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)  # the service says why
    elif isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else exc.messages
        )
    elif isinstance(exc, IntegrityError):
        # a write outside ``save_unique``: the transaction it broke has been left by
        # now (atomic blocks roll back on the way out), so answering is safe
        key = unique_violation(exc)
        if key is not None:
            exc = duplicate(*key)
    if not isinstance(exc, exceptions.APIException):
        return None  # a real bug: let Django log it and answer 500

    set_rollback()
    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    elif isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        request = context.get("request")
        view = context.get("view")
        if request is not None and view is not None:
            header = view.get_authenticate_header(request)
            if header:
                headers["WWW-Authenticate"] = header
    if getattr(exc, "wait", None) is not None:
        headers["Retry-After"] = str(max(1, int(exc.wait + 0.999)))

    if isinstance(exc, exceptions.ValidationError):
        return problem_response(
            exc.status_code,
            gettext("The request has invalid fields."),
            code="invalid",
            errors=_flatten(exc.detail),
            headers=headers,
        )
    detail = exc.detail
    if isinstance(detail, dict | list):
        errors = _flatten(detail)
        return problem_response(
            exc.status_code,
            str(exc.default_detail),
            code=exc.default_code,
            errors=errors,
            headers=headers,
        )
    code = getattr(detail, "code", None) or exc.default_code
    return problem_response(
        exc.status_code,
        str(detail),
        code=code,
        errors=getattr(exc, "errors", None),
        headers=headers,
        extensions=getattr(exc, "extensions", None),
    )


# Django-level handlers, so that /api/ URLs outside DRF views also answer problems.
def _is_api(request) -> bool:
    return request.path.startswith("/api/")


def handler404(request, exception=None):
    if _is_api(request):
        return problem_response(404, gettext("Not found."), code="not_found")
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


def handler500(request):
    if database.is_away(sys.exc_info()[1]):  # raised past the views (a middleware's read)
        database.drop_connection()
        return unavailable(request)
    if _is_api(request):
        return problem_response(500, gettext("Internal server error."), code="server_error")
    from django.views.defaults import server_error

    return server_error(request)


def handler400(request, exception=None):
    if _is_api(request):
        return problem_response(400, gettext("Bad request."), code="bad_request")
    from django.views.defaults import bad_request

    return bad_request(request, exception)


def handler403(request, exception=None):
    if _is_api(request):
        return problem_response(403, gettext("Permission denied."), code="permission_denied")
    from django.views.defaults import permission_denied

    return permission_denied(request, exception)
