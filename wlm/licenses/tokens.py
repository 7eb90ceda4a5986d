"""A license's terms as a signed token (docs/licenses-offline.md): what it carries, when it
is issued again, and the latest one.

The token proves the terms as issued — who sold it to whom, for which locations, what it
allows, for how long — not the current status (a verifier that is online asks the
entitlement). ``lifecycle`` calls ``refresh`` at the end of every change (the one door
every status change and assignment passes) and ``issue`` for a new license: a new token
is signed only when the terms differ from the latest token's.
"""

from __future__ import annotations

import json

import jwt
from django.conf import settings

from wlm.lib import clock
from wlm.licenses import signing
from wlm.licenses.models import License, SignedLicense

# The token travels in the certificate's QR code, which must scan from a printed A4 at
# arm's length (docs/licenses-offline.md, "The QR code"): its size is bounded. Names are
# cut to NAME_BYTES bytes of UTF-8 (the ids are exact; the names are for people), and
# at most TOKEN_LOCATIONS locations are listed, the first assigned first, with
# ``more_locations`` counting the others (a verifier at one of those asks online).
NAME_BYTES = 40
TOKEN_LOCATIONS = 4
ELLIPSIS = "…"


def _size(text: str) -> int:
    """The bytes ``text`` takes in the token's JSON (``"`` and ``\\`` are escaped)."""
    return len(json.dumps(text, ensure_ascii=False).encode()) - 2


def _name(text: str) -> str:
    """``text`` in at most NAME_BYTES bytes of the token, cut at a character with an
    ellipsis."""
    if _size(text) <= NAME_BYTES:
        return text
    room = NAME_BYTES - _size(ELLIPSIS)
    kept = text[:room]
    while _size(kept) > room:
        kept = kept[:-1]
    return kept.rstrip() + ELLIPSIS


def _party(row) -> dict | None:
    return None if row is None else {"id": row.pk, "name": _name(row.name)}


def _date(value) -> str | None:
    return None if value is None else value.isoformat()


def terms(license: License) -> dict:
    """The license's terms: the ``lic`` claim."""
    assigned = license.assignments.select_related("location").order_by("created", "id")
    locations = [assignment.location for assignment in assigned] or [license.location]
    more = len(locations) - TOKEN_LOCATIONS
    lic = {
        "id": license.pk,
        "key": license.key,
        "distributor": _party(license.distributor),
        "partner": _party(license.partner),
        "organization": _party(license.organization),
        "locations": [
            {"id": str(place.pk), "name": _name(place.name)}
            for place in locations[:TOKEN_LOCATIONS]
        ],
        "type": license.license_type,
        "limit": license.limit,
        "modules": sorted(license.modules.values_list("code", flat=True)),
        "years": license.years,
        "payment": license.payment,
        "start_mode": license.start_mode,
        "fixed_start": _date(license.fixed_start),
        "start": _date(license.start_date),
        "end": _date(license.end_date),
    }
    if more > 0:
        lic["more_locations"] = more
    return lic


def issue(license: License, lic: dict | None = None) -> str:
    """Sign the license's terms now and keep the token as its latest."""
    now = clock.now()
    # no ``sub`` (the key is in ``lic``) and no ``jti`` (a token is told from a newer one
    # by comparing it with the latest): every byte counts in the QR code
    claims = {
        "iss": settings.PUBLIC_URL,
        "iat": int(now.timestamp()),
        "lic": terms(license) if lic is None else lic,
    }
    token = signing.sign(claims)
    SignedLicense.objects.update_or_create(
        license=license, defaults={"token": token, "issued": now}
    )
    return token


def verify_url(token: str) -> str:
    """The public verify page carrying ``token`` in the fragment (never sent to a server:
    the page's script reads it), as the certificate's QR code encodes it."""
    return f"{settings.PUBLIC_URL.rstrip('/')}/verify/#{token}"


def unverified_claims(token: str) -> dict:
    """The claims of a token this service stored (trusted: no signature check)."""
    return jwt.decode(token, options={"verify_signature": False})


def refresh(license: License) -> None:
    """A new token when the terms differ from the latest token's (or there is none)."""
    lic = terms(license)
    stored = SignedLicense.objects.filter(license=license).values_list("token", flat=True)
    latest = stored.first()
    if latest is None or unverified_claims(latest).get("lic") != lic:
        issue(license, lic)


def latest(license: License) -> str:
    """The license's latest token (read with the license by ``select_related("signed")``
    where the caller did); one is issued now for a license that has none (rows written in
    bulk, past the lifecycle: generate_load)."""
    try:
        return license.signed.token
    except SignedLicense.DoesNotExist:
        return issue(license)
