"""OpenAPI additions: every operation documents its problem+json error answers, in the
language of the request for the schema (docs/i18n.md)."""

from django.utils.translation import gettext_lazy as _

PROBLEM_SCHEMA = {
    "type": "object",
    "description": _("RFC 9457 problem details."),
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {
            "type": "object",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
        },
    },
    "required": ["type", "title", "status", "detail"],
}

ERRORS = {
    "400": _("Invalid input; `errors` names the fields."),
    "401": _("No or bad credentials."),
    "403": _("Not allowed for this role or tenant."),
    "404": _("Not found, or not visible to this user."),
    "405": _("Method not allowed on this path."),
    "406": _("No acceptable representation (JSON, or CSV on lists)."),
    "409": _("Conflicts with the current state."),
    "415": _("Unsupported body media type (send application/json)."),
    "429": _("Throttled; see Retry-After."),
}


def add_problem_responses(result, generator, request, public):
    """drf-spectacular post-processing hook."""
    components = result.setdefault("components", {}).setdefault("schemas", {})
    components["Problem"] = {**PROBLEM_SCHEMA, "description": str(PROBLEM_SCHEMA["description"])}
    reference = {"$ref": "#/components/schemas/Problem"}
    for path_item in result.get("paths", {}).values():
        for method, operation in path_item.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            responses = operation.setdefault("responses", {})
            for status, description in ERRORS.items():
                responses.setdefault(
                    status,
                    {
                        "description": str(description),
                        "content": {"application/problem+json": {"schema": reference}},
                    },
                )
    return result
