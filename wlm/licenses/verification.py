"""Checking a license token as a verifier would (docs/licenses-offline.md): its
signature against published keys, and — when the platform's own data is at hand — whether
a newer token has replaced it. Used by the public ``/verify/`` page and by
``manage.py verify_license``.

Only a token whose signature holds shows its terms; of any other only the reason is
shown (a forged token's text is never echoed as if it meant something).
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from django.utils.translation import gettext_lazy as _

from wlm.licenses import signing
from wlm.licenses.models import SignedLicense

# Far above any token this service signs (about 1,000 to 1,800 characters): longer input is
# refused before it is parsed.
MAX_TOKEN_CHARS = 8_000

REASONS = {
    "malformed": _("This is not a license token: it is cut short, changed, or not a token at all."),
    "wrong_algorithm": _(
        "The token is not signed the way this platform signs licenses (EdDSA): it was not "
        "issued here."
    ),
    "unknown_key": _(
        "None of this platform's published keys signed the token: it was not issued here."
    ),
    "bad_signature": _(
        "The signature does not match the content: the token was changed after it was signed."
    ),
    "superseded": _(
        "The signature is genuine, but the license's terms have changed since: a newer "
        "token was issued. Ask for the current certificate."
    ),
    "unknown_license": _(
        "The signature is genuine, but this platform no longer holds the license."
    ),
}


@dataclass(frozen=True)
class Verdict:
    """What a verifier can say of ``token``: ``reason`` is None when it is valid;
    ``claims`` are shown only when the signature holds (valid or superseded)."""

    token: str
    reason: str | None = None
    claims: dict | None = None
    latest_issued: dt.datetime | None = None  # when superseded: the newer token's issue

    @property
    def valid(self) -> bool:
        return self.reason is None

    @property
    def explanation(self) -> str:
        return "" if self.reason is None else str(REASONS[self.reason])

    @property
    def fingerprint(self) -> str:
        return signing.fingerprint(self.token)

    @property
    def issued(self) -> dt.datetime | None:
        if self.claims is None:
            return None
        return dt.datetime.fromtimestamp(self.claims["iat"], tz=dt.UTC)


def token_of(text: str) -> str:
    """The token in what a person pastes or a scanner reads: the token itself, or the
    verify URL carrying it after ``#``; spaces and line breaks are dropped."""
    text = re.sub(r"\s+", "", text)
    return text.rpartition("#")[2]


def check(text: str, keys: dict | None = None, *, online: bool = True) -> Verdict:
    """The verdict on the token in ``text``, checked with ``keys`` (a JWKS; default the
    platform's). ``online``: also compare it with the license's latest token here."""
    token = token_of(text)
    if not token or len(token) > MAX_TOKEN_CHARS:
        return Verdict(token[:MAX_TOKEN_CHARS], "malformed")
    try:
        claims = signing.verify(token, keys)
    except signing.InvalidToken as refused:
        return Verdict(token, refused.reason)
    lic = claims.get("lic")
    if not isinstance(lic, dict) or not isinstance(lic.get("id"), int):
        return Verdict(token, "malformed")
    if not online:
        return Verdict(token, claims=claims)
    latest = SignedLicense.objects.filter(license_id=lic["id"]).values_list("token", "issued")
    found = latest.first()
    if found is None:
        return Verdict(token, "unknown_license", claims)
    if found[0] != token:
        return Verdict(token, "superseded", claims, latest_issued=found[1])
    return Verdict(token, claims=claims)


class DecoderMissing(RuntimeError):
    pass


def qr_codes_in_pdf(pdf: bytes, dpi: int = 150) -> list[str]:
    """The text of every QR code in the PDF as a scanner sees it: each page rendered at
    ``dpi`` (Debian's poppler-utils) and decoded by a real QR decoder (Debian's
    zbar-tools)."""
    pdftoppm, zbarimg = shutil.which("pdftoppm"), shutil.which("zbarimg")
    if pdftoppm is None or zbarimg is None:
        raise DecoderMissing(
            "reading a PDF needs pdftoppm and zbarimg: apt-get install poppler-utils zbar-tools"
        )
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "certificate.pdf"
        source.write_bytes(pdf)
        # the tools found on PATH, fixed arguments, files of our own folder
        subprocess.run(  # noqa: S603
            [pdftoppm, "-r", str(dpi), "-gray", "-png", source, Path(folder) / "page"],
            capture_output=True,
            check=True,
        )
        pages = sorted(Path(folder).glob("page*.png"))
        decoded = subprocess.run(  # noqa: S603
            [zbarimg, "--quiet", "--raw", "-Sdisable", "-Sqrcode.enable", *pages],
            capture_output=True,
        )
    if decoded.returncode not in (0, 4):  # 4: no code found
        raise RuntimeError(decoded.stderr.decode(errors="replace").strip())
    return [line for line in decoded.stdout.decode().splitlines() if line]
