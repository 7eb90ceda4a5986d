"""OpenAPI additions, in the language of the request for the schema (docs/i18n.md): every
operation's summary and its resource's description (``SUMMARIES``, ``RESOURCES``: the
docstrings stay for developers), and every operation's problem+json error answers."""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.openapi import AutoSchema

DESCRIPTION = _(
    "Licenses of the Wi-Fi management platform: tenants, locations, modules, licenses and "
    "the data-plane endpoints. Answers are in the language of Accept-Language (English or "
    "Spanish); errors are RFC 9457 problem details."
)
TOKEN_AUTH = _('Token authentication: send the header "Authorization: Token <key>".')

# One entry per first path segment: the section of the documentation.
RESOURCES = {
    "audit": _(
        "The audit log: every change that matters and every login, append-only; a tenant's "
        "admins read their tenant's entries and those of the tenants below it."
    ),
    "auth": _(
        "API tokens: exchange a username and password for a new token to send with every call."
    ),
    "connections": _(
        "Device connections reported by the Wi-Fi platform's gateway: the fifth distinct "
        "device at a location starts its pending license."
    ),
    "distributors": _("Distributors: they sell licenses through their partners."),
    "partners": _("Partners: they request licenses for their organizations."),
    "organizations": _(
        "Organizations: the customers whose locations use the licenses; their language is "
        "that of their notices and certificates."
    ),
    "inbox": _("Your in-app notices, newest first."),
    "installer-devices": _(
        "A partner's installer devices (their MAC addresses kept only as a keyed hash): "
        "their connections never count toward the start of a license at the partner's "
        "locations."
    ),
    "license-requests": _(
        "Partners request licenses; the distributor approves (the license is generated) or "
        "rejects with a reason."
    ),
    "licenses": _(
        "Licenses: generated, activated on a location (Send Key), started by the fifth "
        "device, renewed, upgraded, denied, restored and finalized. Each action follows the "
        "lifecycle's rules and is written in the license's history."
    ),
    "locations": _(
        "Locations, their access points and rooms (limited by the license), Send Key and the "
        "entitlement that the data plane asks for."
    ),
    "modules": _(
        "The catalogue of modules a license can enable: everyone reads it, staff keep it."
    ),
    "notifications": _(
        "The notices of the licenses you can see: sent, skipped, failed and upcoming."
    ),
    "radius": _(
        "Called by FreeRADIUS's rest module for Access-Requests and accounting (gateway "
        "tokens only)."
    ),
    "tokens": _(
        "Your API tokens: named, read-only or read-write, with an optional expiry; the "
        "secret is shown once, when made. Admins see and revoke their users' tokens."
    ),
    "users": _("Users and their membership of one tenant: admins manage their tenants' users."),
}

# One entry per operation (its operationId); a test fails on an operation without one.
SUMMARIES = {
    "audit_list": _("List audit entries"),
    "audit_retrieve": _("Read an audit entry"),
    "auth_token_create": _("Get a new API token (shown once)"),
    "connections_create": _("Report device connections (up to 10,000 a call)"),
    "distributors_list": _("List distributors"),
    "distributors_create": _("Create a distributor"),
    "distributors_retrieve": _("Read a distributor"),
    "distributors_partial_update": _("Change a distributor"),
    "distributors_webhook_secret_create": _("New webhook secret (shown once)"),
    "partners_list": _("List partners"),
    "partners_create": _("Create a partner"),
    "partners_retrieve": _("Read a partner"),
    "partners_partial_update": _("Change a partner"),
    "partners_webhook_secret_create": _("New webhook secret (shown once)"),
    "organizations_list": _("List organizations"),
    "organizations_create": _("Create an organization"),
    "organizations_retrieve": _("Read an organization"),
    "organizations_partial_update": _("Change an organization"),
    "organizations_webhook_secret_create": _("New webhook secret (shown once)"),
    "inbox_list": _("List your notices"),
    "inbox_retrieve": _("Read one of your notices"),
    "inbox_read_create": _("Mark a notice read"),
    "installer_devices_list": _("List installer devices (CSV too)"),
    "installer_devices_create": _("Register an installer device by its MAC address"),
    "installer_devices_retrieve": _("Read an installer device"),
    "installer_devices_destroy": _("Remove an installer device"),
    "license_requests_list": _("List license requests"),
    "license_requests_create": _("Request a license"),
    "license_requests_retrieve": _("Read a license request"),
    "license_requests_approve_create": _("Approve a request (the license is generated)"),
    "license_requests_reject_create": _("Reject a request, with a reason"),
    "licenses_list": _("List licenses (CSV too)"),
    "licenses_create": _("Generate a license"),
    "licenses_retrieve": _("Read a license"),
    "licenses_assignments_create": _("Assign the license to a location"),
    "licenses_assignments_destroy": _("Unassign the license from a location"),
    "licenses_cancel_create": _("Finalize the contract"),
    "licenses_deny_create": _("Deny access"),
    "licenses_restore_create": _("Restore access"),
    "licenses_renew_create": _("Renew the license"),
    "licenses_upgrade_create": _("Upgrade the license (limit, modules)"),
    "licenses_pdf_retrieve": _("Download the PDF certificate"),
    "licenses_bulk_list": _("List bulk jobs (yours; staff: everyone's)"),
    "licenses_bulk_create": _("Change many licenses at once (a bulk job)"),
    "licenses_bulk_retrieve": _("Read a bulk job and its progress"),
    "licenses_bulk_results_list": _("List a bulk job's results, license by license"),
    "locations_list": _("List locations (CSV too)"),
    "locations_create": _("Create a location"),
    "locations_retrieve": _("Read a location"),
    "locations_partial_update": _("Change a location"),
    "locations_activate_create": _("Send Key: activate a license key at the location"),
    "locations_entitlement_retrieve": _(
        "The location's entitlement: served or not, and with which modules"
    ),
    "locations_installation_retrieve": _("Read the location's installation mode"),
    "locations_installation_create": _(
        "Put the location in installation (its connections do not count toward a start)"
    ),
    "locations_installation_destroy": _("Switch installation mode off"),
    "locations_access_points_list": _("List the location's access points"),
    "locations_access_points_create": _("Add an access point"),
    "locations_access_points_retrieve": _("Read an access point"),
    "locations_access_points_destroy": _("Remove an access point"),
    "locations_rooms_list": _("List the location's rooms"),
    "locations_rooms_create": _("Add a room"),
    "locations_rooms_retrieve": _("Read a room"),
    "locations_rooms_destroy": _("Remove a room"),
    "modules_list": _("List modules"),
    "modules_create": _("Create a module"),
    "modules_retrieve": _("Read a module"),
    "modules_partial_update": _("Change a module"),
    "notifications_list": _("List the notices of your licenses"),
    "notifications_retrieve": _("Read a notice"),
    "radius_authorize_create": _("RADIUS authorization: Accept or Reject"),
    "radius_accounting_create": _("RADIUS accounting"),
    "tokens_list": _("List API tokens"),
    "tokens_create": _("Make an API token (its secret shown once)"),
    "tokens_retrieve": _("Read an API token (never its secret)"),
    "tokens_destroy": _("Revoke an API token"),
    "tokens_revoke_create": _("Revoke an API token and read it back"),
    "users_list": _("List users"),
    "users_create": _("Create a user"),
    "users_retrieve": _("Read a user"),
    "users_invite_create": _("Invite a user by e-mail"),
    "users_role_create": _("Change a user's role"),
    "users_deactivate_create": _("Deactivate a user"),
}


class Schema(AutoSchema):
    """drf-spectacular's schema with our summaries; an operation's description is its
    resource's (``RESOURCES``, also the section's text), not its view's docstring."""

    def get_summary(self):
        return SUMMARIES.get(self.get_operation_id())

    def get_description(self):
        tags = self.get_tags()
        return RESOURCES.get(tags[0], "") if tags else ""


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
    "503": _("The database is away for a moment; retry after Retry-After seconds."),
}


def add_problem_responses(result, generator, request, public):
    """drf-spectacular post-processing hook: the texts of the whole document in the
    request's language, and the error answers of every operation."""
    result.setdefault("info", {})["description"] = str(DESCRIPTION)
    used = {
        tag
        for item in result.get("paths", {}).values()
        for op in item.values()
        if isinstance(op, dict)
        for tag in op.get("tags", [])
    }
    result["tags"] = [
        {"name": name, "description": str(text)} for name, text in RESOURCES.items() if name in used
    ]
    for component in result.get("components", {}).get("schemas", {}).values():
        # a serializer's docstring is for developers (English, internal references)
        component.pop("description", None)
    schemes = result.get("components", {}).get("securitySchemes", {})
    if "tokenAuth" in schemes:
        schemes["tokenAuth"]["description"] = str(TOKEN_AUTH)
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
