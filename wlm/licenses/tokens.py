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
from wlm.licenses.models import Assignment, License, SignedLicense

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


def _party(pk, name) -> dict | None:
    return None if pk is None else {"id": pk, "name": _name(name)}


def _date(value) -> str | None:
    return None if value is None else value.isoformat()


def terms(license: License) -> dict:
    """The license's terms: the ``lic`` claim."""
    return terms_of([license])[license.pk]


_PARTIES = ("distributor", "partner", "organization", "location")


def _parties_read(license: License) -> bool:
    return all(License._meta.get_field(name).is_cached(license) for name in _PARTIES)


def _parties(license: License) -> tuple:
    """(distributor id, name, partner id, name, organization id, name, location id, name)
    from the relations read with the row."""
    found = []
    for name in _PARTIES:
        related = getattr(license, name)
        found += [None, None] if related is None else [related.pk, related.name]
    return tuple(found)


def _parties_of(ids: list[int]) -> dict[int, tuple]:
    """``_parties`` of each license, read in one query."""
    return {
        row[0]: row[1:]
        for row in License.objects.filter(pk__in=ids).values_list(
            "pk",
            "distributor_id",
            "distributor__name",
            "partner_id",
            "partner__name",
            "organization_id",
            "organization__name",
            "location_id",
            "location__name",
        )
    }


def terms_of(licenses: list[License]) -> dict[int, dict]:
    """The ``lic`` claim of each of ``licenses`` (saved rows), by id: three queries
    whatever their number (parties and first location, assigned locations, modules)."""
    ids = [license.pk for license in licenses]
    if all(_parties_read(license) for license in licenses):  # ``lifecycle.lock`` read them
        parties = {license.pk: _parties(license) for license in licenses}
    else:
        parties = _parties_of(ids)
    assigned: dict[int, list[tuple]] = {pk: [] for pk in ids}
    for license_id, *place in (
        Assignment.objects.filter(license__in=ids)
        .order_by("created", "id")
        .values_list("license_id", "location_id", "location__name")
    ):
        assigned[license_id].append(place)
    modules: dict[int, list[str]] = {pk: [] for pk in ids}
    for license_id, code in License.modules.through.objects.filter(license__in=ids).values_list(
        "license_id", "module__code"
    ):
        modules[license_id].append(code)
    found = {}
    for license in licenses:
        dist, dist_name, partner, partner_name, org, org_name, *own = parties[license.pk]
        places = assigned[license.pk] or ([own] if own[0] is not None else [])
        found[license.pk] = _terms(
            license,
            (_party(dist, dist_name), _party(partner, partner_name), _party(org, org_name)),
            places,
            sorted(modules[license.pk]),
        )
    return found


def _terms(license: License, parties: tuple, places: list, modules: list[str]) -> dict:
    distributor, partner, organization = parties
    more = len(places) - TOKEN_LOCATIONS
    lic = {
        "id": license.pk,
        "key": license.key,
        "distributor": distributor,
        "partner": partner,
        "organization": organization,
        "locations": [
            {"id": str(pk), "name": _name(name)} for pk, name in places[:TOKEN_LOCATIONS]
        ],
        "type": license.license_type,
        "limit": license.limit,
        "modules": modules,
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
    return _issue_all([(license, terms(license) if lic is None else lic)])[0]


def _issue_all(signed: list[tuple[License, dict]]) -> list[str]:
    """Sign each (license, terms) now and keep the tokens as the licenses' latest, in one
    statement (an upsert on the license)."""
    now = clock.now()
    # no ``sub`` (the key is in ``lic``) and no ``jti`` (a token is told from a newer one
    # by comparing it with the latest): every byte counts in the QR code
    issued = [
        signing.sign({"iss": settings.PUBLIC_URL, "iat": int(now.timestamp()), "lic": lic})
        for _license, lic in signed
    ]
    SignedLicense.objects.bulk_create(
        [
            SignedLicense(license=license, token=token, issued=now)
            for (license, _lic), token in zip(signed, issued, strict=True)
        ],
        update_conflicts=True,
        unique_fields=["license"],
        update_fields=["token", "issued"],
    )
    for (license, _lic), token in zip(signed, issued, strict=True):
        # what ``refresh`` compares with next, on this row
        license.signed = SignedLicense(license=license, token=token, issued=now)
    return issued


def verify_url(token: str) -> str:
    """The public verify page carrying ``token`` in the fragment (never sent to a server:
    the page's script reads it), as the certificate's QR code encodes it."""
    return f"{settings.PUBLIC_URL.rstrip('/')}/verify/#{token}"


def unverified_claims(token: str) -> dict:
    """The claims of a token this service stored (trusted: no signature check)."""
    return jwt.decode(token, options={"verify_signature": False})


def refresh(license: License) -> None:
    """A new token when the terms differ from the latest token's (or there is none)."""
    refresh_all([license])


def refresh_all(licenses: list[License]) -> None:
    """``refresh`` for several licenses, in set-based statements: read their terms and
    latest tokens (the token read with the license by ``lifecycle.lock`` is not read
    again), sign those whose terms differ, store them in one upsert."""
    if not licenses:
        return
    lics = terms_of(licenses)
    latest = {
        license.pk: getattr(license, "signed", None)
        for license in licenses
        if License.signed.is_cached(license)
    }
    latest = {pk: signed and signed.token for pk, signed in latest.items()}
    unread = [pk for pk in lics if pk not in latest]
    if unread:
        latest.update(
            SignedLicense.objects.filter(license__in=unread).values_list("license_id", "token")
        )
    changed = [
        (license, lics[license.pk])
        for license in licenses
        if latest.get(license.pk) is None
        or unverified_claims(latest[license.pk]).get("lic") != lics[license.pk]
    ]
    if changed:
        _issue_all(changed)


def latest(license: License) -> str:
    """The license's latest token (read with the license by ``select_related("signed")``
    where the caller did); one is issued now for a license that has none (rows written in
    bulk, past the lifecycle: generate_load)."""
    try:
        return license.signed.token
    except SignedLicense.DoesNotExist:
        return issue(license)
