"""The keys that sign licenses and the check of a token: what verifies, and every way a
forged or altered token is refused (wlm.licenses.signing)."""

from __future__ import annotations

import base64
import hashlib
import io
import json

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.management import call_command

from wlm.licenses import signing

CLAIMS = {"iss": "https://wlm.example", "iat": 1_800_000_000, "jti": "t-1", "lic": {"key": "K"}}


@pytest.fixture
def keys(settings, tmp_path):
    """A key folder of this test's own."""
    settings.SIGNING_KEYS_DIR = tmp_path / "signing"
    settings.LICENSE_SIGNING_KEY = ""
    signing.reload()
    yield settings.SIGNING_KEYS_DIR
    signing.reload()


def _segments(token):
    return token.split(".")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def reason(token, jwks=None) -> str:
    with pytest.raises(signing.InvalidToken) as refused:
        signing.verify(token, jwks)
    return refused.value.reason


def test_a_token_round_trips_and_names_its_key(keys):
    token = signing.sign(CLAIMS)
    assert signing.verify(token) == CLAIMS
    # no typ (optional in RFC 7515): every byte counts in the certificate's QR code
    assert jwt.get_unverified_header(token) == {"alg": "EdDSA", "kid": signing.signing_key().kid}
    # the first use made one key, readable by its owner only
    [path] = keys.glob("*.pem")
    assert path.stat().st_mode & 0o077 == 0


def test_one_changed_character_anywhere_is_refused(keys):
    token = signing.sign(CLAIMS)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    for index, char in enumerate(token):
        if char == ".":
            continue
        other = alphabet[(alphabet.index(char) + 1) % len(alphabet)]
        changed = token[:index] + other + token[index + 1 :]
        with pytest.raises(signing.InvalidToken):
            signing.verify(changed)


def test_one_changed_byte_in_any_part_is_refused(keys):
    token = signing.sign(CLAIMS)
    for part in range(3):
        segments = _segments(token)
        raw = bytearray(_unb64(segments[part]))
        for position in (0, len(raw) // 2, len(raw) - 1):
            flipped = bytearray(raw)
            flipped[position] ^= 0x01
            segments_changed = list(segments)
            segments_changed[part] = _b64(bytes(flipped))
            with pytest.raises(signing.InvalidToken):
                signing.verify(".".join(segments_changed))


def test_another_key_is_refused_even_under_our_kid(keys):
    stranger = Ed25519PrivateKey.generate()
    ours = signing.signing_key().kid
    own_kid = signing.public_jwk(stranger.public_key())["kid"]
    assert reason(jwt.encode(CLAIMS, stranger, "EdDSA", headers={"kid": own_kid})) == (
        "unknown_key"
    )
    assert reason(jwt.encode(CLAIMS, stranger, "EdDSA", headers={"kid": ours})) == ("bad_signature")


def test_no_kid_alg_none_and_hmac_with_the_public_key_are_refused(keys):
    token = signing.sign(CLAIMS)
    _header, payload, signature = _segments(token)
    without_kid = _b64(json.dumps({"alg": "EdDSA", "typ": "JWT"}).encode())
    assert reason(f"{without_kid}.{payload}.{signature}") == "unknown_key"
    kid = signing.signing_key().kid
    none = _b64(json.dumps({"alg": "none", "kid": kid}).encode())
    assert reason(f"{none}.{payload}.") == "wrong_algorithm"  # the classic: no signature
    assert reason(f"{none}.{payload}.{signature}") == "wrong_algorithm"
    public = signing.jwks()["keys"][0]
    for secret in (public["x"].encode(), _unb64(public["x"])):
        forged = jwt.encode(CLAIMS, secret, "HS256", headers={"kid": kid})
        assert reason(forged) == "wrong_algorithm"


@pytest.mark.parametrize("token", ["", "a.b", "not a token", "a.b.c.d", "éé.éé.éé"])
def test_garbage_is_malformed(keys, token):
    assert reason(token) == "malformed"


def test_a_rotation_keeps_old_tokens_valid_and_signs_new_ones_with_the_new_key(keys):
    old_token = signing.sign(CLAIMS)
    old_kid = signing.signing_key().kid
    new = signing.rotate()
    assert new.kid != old_kid == jwt.get_unverified_header(old_token)["kid"]
    new_token = signing.sign(CLAIMS)
    assert jwt.get_unverified_header(new_token)["kid"] == new.kid
    assert signing.verify(old_token) == signing.verify(new_token) == CLAIMS
    assert [key["kid"] for key in signing.jwks()["keys"]] == [old_kid, new.kid]


def test_a_key_from_the_environment_signs(keys, settings):
    stored = signing.signing_key().kid
    private = Ed25519PrivateKey.generate()
    settings.LICENSE_SIGNING_KEY = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    signing.reload()
    token = signing.sign(CLAIMS)
    assert (
        jwt.get_unverified_header(token)["kid"] == signing.public_jwk(private.public_key())["kid"]
    )
    assert {key["kid"] for key in signing.jwks()["keys"]} == {stored, signing.signing_key().kid}
    assert signing.verify(token) == CLAIMS


def test_the_published_keys_are_public_halves_and_verify_offline(keys, client):
    signing.signing_key()  # the first key, made on first use
    signing.rotate()
    response = client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/jwk-set+json"
    published = response.json()
    assert len(published["keys"]) == 2
    for jwk in published["keys"]:
        assert set(jwk) == {"kty", "crv", "x", "kid", "alg", "use"}  # no "d": no private half
    text = response.content.decode()
    for path in keys.glob("*.pem"):
        private = serialization.load_pem_private_key(path.read_bytes(), None)
        raw = private.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        assert _b64(raw) not in text
    # a verifier with only the published JSON
    token = signing.sign(CLAIMS)
    assert signing.verify(token, published) == CLAIMS
    assert client.post("/.well-known/jwks.json").status_code == 405


def test_the_command_lists_and_rotates(keys):
    out = io.StringIO()
    call_command("signing_keys", stdout=out)
    [first] = out.getvalue().split()[::2]
    out = io.StringIO()
    call_command("signing_keys", "rotate", stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("New signing key ")
    assert lines[1:] == [f"{first}  verifies", f"{signing.signing_key().kid}  signing"]


def test_names_travel_as_utf8_not_escapes(keys):
    claims = {**CLAIMS, "lic": {"name": "Málaga Ñandú"}}
    token = signing.sign(claims)
    payload = token.split(".")[1]
    raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    assert "Málaga Ñandú".encode() in raw
    assert signing.verify(token) == claims


def test_the_fingerprint_is_80_bits_of_the_tokens_sha256_in_groups():
    token = "a.b.c"
    expected = hashlib.sha256(b"a.b.c").hexdigest().upper()[:20]
    assert signing.fingerprint(token) == " ".join(expected[at : at + 4] for at in range(0, 20, 4))
    assert signing.fingerprint("a.b.d") != signing.fingerprint(token)
