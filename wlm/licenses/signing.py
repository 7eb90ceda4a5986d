"""The keys that sign licenses, and the signing and checking of a token (docs/licenses-offline.md).

Ed25519 keys (``cryptography``), tokens as compact JWS with ``alg: EdDSA`` and the key's
``kid`` in the header (PyJWT): no hand-made cryptography. The ``kid`` is the key's RFC 7638
thumbprint, so anyone holding the public key can compute it.

Where the private keys live: never in the database (a dump carries no key) and never
served. ``LICENSE_SIGNING_KEY`` (a PEM private key in the environment) is the signing key
when set; otherwise the newest key of ``SIGNING_KEYS_DIR`` (``data/signing/`` by default;
one made on first use, like the secret key). ``rotate`` adds a new key to that folder; the
older ones stay and still verify the tokens they signed. The JWKS (``jwks()``) publishes
the public half of every key there.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings

ALGORITHM = "EdDSA"
_SUFFIX = ".pem"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def public_jwk(key: Ed25519PublicKey) -> dict:
    """The public key as a JWK (RFC 8037: OKP, Ed25519), with its ``kid``."""
    x = _b64(key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))
    # RFC 7638: the thumbprint of the required members, in lexicographic order
    members = json.dumps({"crv": "Ed25519", "kty": "OKP", "x": x}, separators=(",", ":"))
    kid = _b64(hashlib.sha256(members.encode()).digest())
    return {"kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid, "alg": ALGORITHM, "use": "sig"}


@dataclass(frozen=True)
class SigningKey:
    private: Ed25519PrivateKey
    kid: str

    @classmethod
    def from_pem(cls, pem: bytes) -> SigningKey:
        private = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(private, Ed25519PrivateKey):
            raise ValueError("a license signing key must be an Ed25519 private key")
        return cls(private, public_jwk(private.public_key())["kid"])


def _directory() -> Path:
    return Path(settings.SIGNING_KEYS_DIR)


def _write_new_key(directory: Path) -> Path:
    """A new private key in ``directory``, readable by its owner only, named so that the
    newest sorts last (written aside, then linked into place: never half a file)."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    kid = public_jwk(key.public_key())["kid"]
    path = directory / f"{time.time_ns():020d}-{kid}{_SUFFIX}"
    temporary = directory / f".{path.name}.{os.getpid()}"
    temporary.write_bytes(pem)
    temporary.chmod(0o600)
    os.link(temporary, path)
    temporary.unlink()
    return path


def _stored_keys() -> list[SigningKey]:
    """The folder's keys, oldest first; one is made when there is none and no key comes
    from the environment."""
    directory = _directory()
    paths = sorted(directory.glob(f"*{_SUFFIX}")) if directory.is_dir() else []
    if not paths and not settings.LICENSE_SIGNING_KEY:
        paths = [_write_new_key(directory)]
    return [SigningKey.from_pem(path.read_bytes()) for path in paths]


@cache
def _keyring() -> tuple[SigningKey, tuple[SigningKey, ...]]:
    """(the signing key, every key that verifies), read once per process."""
    keys = _stored_keys()
    if settings.LICENSE_SIGNING_KEY:
        current = SigningKey.from_pem(settings.LICENSE_SIGNING_KEY.encode())
        keys = [key for key in keys if key.kid != current.kid] + [current]
    return keys[-1], tuple(keys)


def reload() -> None:
    """Read the keys again (after a rotation, and in tests)."""
    _keyring.cache_clear()


def signing_key() -> SigningKey:
    return _keyring()[0]


def rotate() -> SigningKey:
    """A new signing key in the folder; the old ones keep verifying. Each server process
    signs with it once it reads the keys again (a restart)."""
    path = _write_new_key(_directory())
    reload()
    return SigningKey.from_pem(path.read_bytes())


def jwks() -> dict:
    """Every key that verifies, public halves only: ``/.well-known/jwks.json``."""
    return {"keys": [public_jwk(key.private.public_key()) for key in _keyring()[1]]}


def sign(claims: dict) -> str:
    """A compact JWS of ``claims`` signed with the signing key, its ``kid`` in the header.

    Made to be short, as it travels in a QR code: compact JSON in UTF-8 ("Málaga" is
    7 bytes, not the 11 of PyJWT's ``\\u00e1`` escapes) and no ``typ`` header (RFC 7515
    makes it optional; the ``alg`` and ``kid`` say all a verifier needs)."""
    key = signing_key()
    payload = json.dumps(claims, separators=(",", ":"), ensure_ascii=False).encode()
    return jwt.api_jws.encode(
        payload, key.private, algorithm=ALGORITHM, headers={"kid": key.kid, "typ": None}
    )


def fingerprint(token: str) -> str:
    """What a person compares between a printed certificate and the verify page: the
    first 80 bits of the token's SHA-256, in five groups of four hex digits."""
    digest = hashlib.sha256(token.encode()).hexdigest().upper()[:20]
    return " ".join(digest[at : at + 4] for at in range(0, 20, 4))


class InvalidToken(Exception):
    """Why a token is refused: ``reason`` is one of malformed, unknown_key,
    bad_signature, wrong_algorithm."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def verify(token: str, keys: dict | None = None) -> dict:
    """The claims of ``token`` if one of ``keys`` (a JWKS; default ours) signed it with
    EdDSA; InvalidToken with the reason otherwise. Only EdDSA is accepted, whatever the
    header says (``alg: none`` and an HMAC keyed with the public key are refused).
    PyJWT decodes base64url strictly: a character changed in a segment's spare bits is
    refused too (a test changes every character)."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.DecodeError:
        raise InvalidToken("malformed") from None
    if header.get("alg") != ALGORITHM:
        raise InvalidToken("wrong_algorithm")
    kid = header.get("kid")
    published = jwks() if keys is None else keys
    found = [jwk for jwk in published.get("keys", []) if kid and jwk.get("kid") == kid]
    if not found:
        raise InvalidToken("unknown_key")
    public = jwt.PyJWK(found[0], algorithm=ALGORITHM).key
    try:
        return jwt.decode(
            token,
            public,
            algorithms=[ALGORITHM],
            # a license token proves terms, not a moment: no expiry; an issue time ahead
            # of the verifier's clock is not a forgery
            options={"verify_aud": False, "verify_iat": False, "require": ["iat", "iss"]},
        )
    except jwt.InvalidSignatureError:
        raise InvalidToken("bad_signature") from None
    except jwt.InvalidTokenError:
        raise InvalidToken("malformed") from None
