"""RFC 9457 problem details for every error the API answers.

DRF's exceptions, Django's 404/403 and validation errors all become
``application/problem+json`` with ``type``, ``title``, ``status``, ``detail`` and,
for invalid input, ``errors`` per field.
"""

from __future__ import annotations

import json
from http import HTTPStatus

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpResponse
from rest_framework import exceptions
from rest_framework.views import set_rollback

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_BASE = "https://wifi-license-manager.example/problems/"


class Conflict(exceptions.APIException):
    """409: the request conflicts with the current state (limit, status, used key)."""

    status_code = 409
    default_detail = "The request conflicts with the current state."
    default_code = "conflict"


def _problem_type(code: str | None) -> str:
    if code:
        return PROBLEM_BASE + code.replace("_", "-")
    return "about:blank"


def problem_response(
    status: int,
    detail: str,
    *,
    code: str | None = None,
    errors: dict | None = None,
    headers: dict | None = None,
) -> HttpResponse:
    """A problem+json response. Plain HttpResponse, so every format gets the same body."""
    body = {
        "type": _problem_type(code),
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": str(detail),
    }
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


def exception_handler(exc, context):
    """DRF's EXCEPTION_HANDLER: every handled error becomes a problem response."""
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)  # the service says why
    elif isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else exc.messages
        )
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
            "The request has invalid fields.",
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
    return problem_response(exc.status_code, str(detail), code=code, headers=headers)


# Django-level handlers, so that /api/ URLs outside DRF views also answer problems.
def _is_api(request) -> bool:
    return request.path.startswith("/api/")


def handler404(request, exception=None):
    if _is_api(request):
        return problem_response(404, "Not found.", code="not_found")
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


def handler500(request):
    if _is_api(request):
        return problem_response(500, "Internal server error.", code="server_error")
    from django.views.defaults import server_error

    return server_error(request)


def handler400(request, exception=None):
    if _is_api(request):
        return problem_response(400, "Bad request.", code="bad_request")
    from django.views.defaults import bad_request

    return bad_request(request, exception)


def handler403(request, exception=None):
    if _is_api(request):
        return problem_response(403, "Permission denied.", code="permission_denied")
    from django.views.defaults import permission_denied

    return permission_denied(request, exception)
