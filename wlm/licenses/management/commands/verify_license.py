"""``manage.py verify_license SOURCE [--jwks FILE]``: check a signed license token as an
installer or vendor would (docs/licenses-offline.md).

SOURCE is the token, the verify link that carries it, or a certificate PDF (its verify QR
code is read the way a phone reads it: the pages rendered and decoded by zbar). With
``--jwks`` (a saved copy of ``/.well-known/jwks.json``) nothing but that file is read: no
database, no network. Without it the platform's own keys check the token and its database
says whether a newer token replaced it. Exit status 0 when valid, 1 otherwise.
"""

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from wlm.licenses import verification


def _token_in_pdf(path: Path) -> str:
    try:
        codes = verification.qr_codes_in_pdf(path.read_bytes())
    except verification.DecoderMissing as missing:
        raise CommandError(str(missing)) from None
    links = [code for code in codes if "/verify/#" in code]
    if not links:
        raise CommandError(f"{path}: no verify QR code found (an older certificate?)")
    return links[0]


def _name(party: dict | None) -> str:
    return party["name"] if party else "-"


class Command(BaseCommand):
    help = "Verify a signed license token, verify link or certificate PDF (offline with --jwks)."

    def add_arguments(self, parser):
        parser.add_argument("source", help="the token, the verify link, or a certificate PDF")
        parser.add_argument(
            "--jwks", type=Path, help="a saved JWKS: check with it alone, offline (no database)"
        )

    def handle(self, *args, source: str, jwks: Path | None = None, **options):
        path = Path(source)
        text = _token_in_pdf(path) if source.lower().endswith(".pdf") else source
        keys = None
        if jwks is not None:
            try:
                keys = json.loads(jwks.read_text())
            except (OSError, ValueError) as error:
                raise CommandError(f"{jwks}: not a readable JWKS ({error})") from None
        verdict = verification.check(text, keys, online=keys is None)
        self.stdout.write(f"fingerprint: {verdict.fingerprint}")
        if verdict.claims is not None:
            self._terms(verdict)
        if not verdict.valid:
            raise CommandError(f"not valid ({verdict.reason}): {verdict.explanation}")
        self.stdout.write(self.style.SUCCESS("valid"))

    def _terms(self, verdict: verification.Verdict) -> None:
        lic = verdict.claims["lic"]
        lines = {
            "issuer": verdict.claims["iss"],
            "issued": verdict.issued.isoformat(),
            "license": f"{lic['key']} (id {lic['id']})",
            "distributor": _name(lic.get("distributor")),
            "partner": _name(lic.get("partner")),
            "organization": _name(lic.get("organization")),
            "locations": ", ".join(f"{place['name']} ({place['id']})" for place in lic["locations"])
            + (f" and {lic['more_locations']} more" if lic.get("more_locations") else ""),
            "type and limit": f"{lic['type']} {lic['limit']}",
            "modules": ", ".join(lic["modules"]) or "-",
            "term": f"{lic['years']} years, {lic['payment']}, start {lic['start_mode']}"
            + (f" on {lic['fixed_start']}" if lic.get("fixed_start") else ""),
            "dates": f"{lic['start']} to {lic['end']}" if lic.get("start") else "not started",
        }
        for label, value in lines.items():
            self.stdout.write(f"{label}: {value}")
