"""OpenAPI additions: every operation documents its problem+json error answers."""

PROBLEM_SCHEMA = {
    "type": "object",
    "description": "RFC 9457 problem details.",
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
    "400": "Invalid input; `errors` names the fields.",
    "401": "No or bad credentials.",
    "403": "Not allowed for this role or tenant.",
    "404": "Not found, or not visible to this user.",
    "405": "Method not allowed on this path.",
    "406": "No acceptable representation (JSON, or CSV on lists).",
    "409": "Conflicts with the current state.",
    "415": "Unsupported body media type (send application/json).",
    "429": "Throttled; see Retry-After.",
}


def add_problem_responses(result, generator, request, public):
    """drf-spectacular post-processing hook."""
    components = result.setdefault("components", {}).setdefault("schemas", {})
    components["Problem"] = PROBLEM_SCHEMA
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
                        "description": description,
                        "content": {"application/problem+json": {"schema": reference}},
                    },
                )
    return result
