"""Verifying a signed license as a stranger would (wlm.licenses.verification): the public
``/verify/`` page and ``manage.py verify_license`` — valid, or exactly why not, and
nothing more than a genuine token carries."""

from __future__ import annotations

import json

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.management import CommandError, call_command
from django.test import Client

from wlm.licenses import lifecycle, pdf, signing, tokens, verification
from wlm.licenses.models import License, Module, SignedLicense
from wlm.licenses.tests.test_tokens import generated

pytestmark = pytest.mark.django_db


def token_of(license: License) -> str:
    return tokens.latest(License.objects.get(pk=license.pk))


def tampered(token: str) -> str:
    """One character of the payload changed (the signature no longer matches)."""
    header, payload, signature = token.split(".")
    middle = len(payload) // 2
    changed = "A" if payload[middle] != "A" else "B"
    return ".".join([header, payload[:middle] + changed + payload[middle + 1 :], signature])


def signed_elsewhere(claims: dict, kid: str | None = None) -> str:
    """``claims`` signed by a key that is not the platform's (under our ``kid`` if given)."""
    other = Ed25519PrivateKey.generate()
    headers = {"kid": kid or signing.public_jwk(other.public_key())["kid"]}
    return jwt.encode(claims, other, algorithm="EdDSA", headers=headers)


def verify_page(client: Client, text: str):
    return client.post("/verify/", {"token": text})


def test_the_page_is_public_and_asks_for_a_token(client):
    response = client.get("/verify/")
    assert response.status_code == 200
    assert b'name="token"' in response.content
    assert b"data-verify" in response.content  # the script fills it from the link's fragment


def test_a_genuine_current_token_is_valid_with_its_terms(world, client, settings):
    settings.PUBLIC_URL = "https://wifi.example"
    license = generated(world)
    token = token_of(license)
    response = verify_page(client, token)
    assert response.status_code == 200
    page = response.content.decode()
    assert 'class="verdict valid"' in page
    assert "Signed by https://wifi.example on" in page
    assert license.key in page
    assert world.dist.name in page and world.partner.name in page and world.hotel.name in page
    assert Module.objects.get(code="pms").name in page  # module codes named
    assert signing.fingerprint(token) in page
    assert "Other Dist" not in page  # nothing but what the token carries


def test_the_link_of_the_certificate_is_accepted_as_it_comes(world, client):
    token = token_of(generated(world))
    link = tokens.verify_url(token)
    assert 'class="verdict valid"' in verify_page(client, link).content.decode()
    wrapped = "\n".join(token[at : at + 64] for at in range(0, len(token), 64))  # pasted
    assert 'class="verdict valid"' in verify_page(client, wrapped).content.decode()


@pytest.mark.parametrize(
    ("forge", "reason"),
    [
        (lambda token, claims: "not-a-token", "malformed"),
        (lambda token, claims: token.rpartition(".")[0], "malformed"),  # no signature
        (lambda token, claims: token[:-10], "bad_signature"),  # part of the signature
        (lambda token, claims: tampered(token), "bad_signature"),
        (lambda token, claims: signed_elsewhere(claims), "unknown_key"),
        (
            lambda token, claims: signed_elsewhere(claims, signing.signing_key().kid),
            "bad_signature",
        ),
        (lambda token, claims: jwt.encode(claims, None, algorithm="none"), "wrong_algorithm"),
        (
            lambda token, claims: jwt.encode(claims, "x" * 32, algorithm="HS256"),
            "wrong_algorithm",
        ),
    ],
)
def test_a_forged_token_says_why_and_shows_none_of_its_text(world, client, forge, reason):
    token = token_of(generated(world))
    claims = signing.verify(token)
    claims["lic"]["distributor"]["name"] = "Forged Reseller"
    response = verify_page(client, forge(token, claims))
    assert response.status_code == 200
    page = response.content.decode()
    assert 'class="verdict invalid"' in page
    assert f'data-reason="{reason}"' in page
    assert str(verification.REASONS[reason]) in page.replace("&#x27;", "'")
    assert "Forged Reseller" not in page
    assert 'data-testid="terms"' not in page


def test_a_replaced_token_is_superseded_and_says_when_the_newer_came(world, client):
    license = generated(world)
    old = token_of(license)
    lifecycle.upgrade(world.dist_admin, license.pk, limit=12)
    response = verify_page(client, old)
    page = response.content.decode()
    assert 'data-reason="superseded"' in page
    assert "The newer token was issued on" in page
    assert "Terms this token carried" in page  # genuine, so its terms are shown as history
    assert 'class="verdict valid"' in verify_page(client, token_of(license)).content.decode()


def test_a_genuine_token_of_a_license_the_platform_no_longer_holds(world, client):
    license = generated(world)
    token = token_of(license)
    SignedLicense.objects.filter(license=license).delete()
    License.objects.filter(pk=license.pk).update(key="AAAAA-AAAAA-AAAAA-AAAAA-AAAAA")
    assert 'data-reason="unknown_license"' in verify_page(client, token).content.decode()


def test_names_in_a_genuine_token_are_escaped(world, client):
    world.hotel.name = "<script>alert(1)</script>"
    world.hotel.save()
    page = verify_page(client, token_of(generated(world))).content.decode()
    assert "<script>alert(1)" not in page
    assert "&lt;script&gt;alert(1)" in page


@pytest.mark.parametrize("text", ["", "   ", "x" * 9_000])
def test_no_token_or_too_much_is_a_form_error(client, text):
    response = verify_page(client, text)
    assert response.status_code == 400
    assert b"errorlist" in response.content
    assert b'data-testid="verdict"' not in response.content


def test_the_form_works_with_csrf_checks_as_a_browser_posts_it(world):
    token = token_of(generated(world))
    browser = Client(enforce_csrf_checks=True)
    browser.get("/verify/")
    csrf = browser.cookies["csrftoken"].value
    assert browser.post("/verify/", {"token": token}).status_code == 403  # no token: refused
    response = browser.post("/verify/", {"token": token, "csrfmiddlewaretoken": csrf})
    assert 'class="verdict valid"' in response.content.decode()


def test_nothing_secret_on_the_public_page_or_in_the_keys(world, client, settings):
    token = token_of(generated(world))
    pems = [path.read_text() for path in settings.SIGNING_KEYS_DIR.glob("*.pem")]
    assert pems
    secrets = [line for pem in pems for line in pem.splitlines() if "-----" not in line]
    for response in (client.get("/verify/"), verify_page(client, token)):
        assert not any(secret in response.content.decode() for secret in secrets)
    published = client.get("/.well-known/jwks.json").json()
    assert all(set(key) == {"kty", "crv", "x", "kid", "alg", "use"} for key in published["keys"])


# manage.py verify_license


def run(*args) -> str:
    import io

    out = io.StringIO()
    call_command("verify_license", *args, stdout=out)
    return out.getvalue()


def test_the_command_verifies_a_token_a_link_and_a_certificate(world):
    license = generated(world)
    token = token_of(license)
    for source in (token, tokens.verify_url(token)):
        out = run(source)
        assert out.rstrip().endswith("valid")
        assert f"license: {license.key} (id {license.pk})" in out
        assert f"fingerprint: {signing.fingerprint(token)}" in out


def test_the_command_reads_the_verify_code_of_a_certificate_pdf(world, tmp_path):
    license = generated(world)
    path = tmp_path / "license.pdf"
    path.write_bytes(pdf.certificate_for(License.objects.get(pk=license.pk)))
    out = run(str(path))
    assert out.rstrip().endswith("valid")
    assert f"fingerprint: {signing.fingerprint(token_of(license))}" in out


def test_the_command_is_offline_with_a_saved_jwks(world, tmp_path, django_assert_num_queries):
    license = generated(world)
    old = token_of(license)
    lifecycle.upgrade(world.dist_admin, license.pk, limit=12)
    saved = tmp_path / "jwks.json"
    saved.write_text(json.dumps(signing.jwks()))
    with django_assert_num_queries(0):
        # offline, a genuine token is valid: only the platform knows a newer one exists
        assert run(old, "--jwks", str(saved)).rstrip().endswith("valid")
        with pytest.raises(CommandError, match=r"not valid \(bad_signature\)"):
            run(tampered(old), "--jwks", str(saved))
    saved.write_text(json.dumps({"keys": []}))
    with pytest.raises(CommandError, match=r"not valid \(unknown_key\)"):
        run(old, "--jwks", str(saved))
    with pytest.raises(CommandError, match=r"not valid \(superseded\)"):
        run(old)  # online: the platform's database knows


def test_the_command_says_what_is_wrong_with_its_input(tmp_path):
    with pytest.raises(CommandError, match="not a readable JWKS"):
        run("a.b.c", "--jwks", str(tmp_path / "missing.json"))
    empty = tmp_path / "blank.pdf"
    empty.write_bytes(pdf.render_certificate(_no_token_certificate()))
    with pytest.raises(CommandError, match="no verify QR code"):
        run(str(empty))


def _no_token_certificate() -> pdf.CertificateData:
    from wlm.licenses.tests.test_pdf import SAMPLE

    return SAMPLE


def test_the_python_snippet_of_the_docs_verifies_and_refuses(world):
    """docs/licenses-offline.md's snippet for vendors, run as printed (up to its usage)."""
    from django.conf import settings

    doc = (settings.BASE_DIR / "docs" / "licenses-offline.md").read_text()
    snippet = doc.split("```python\n", 1)[1].split("# --- usage", 1)[0]
    namespace: dict = {}
    exec(compile(snippet, "licenses-offline.md", "exec"), namespace)
    token = token_of(generated(world))
    published = json.loads(json.dumps(signing.jwks()))
    assert namespace["verify"](token, published) == signing.verify(token)
    with pytest.raises(jwt.InvalidTokenError):
        namespace["verify"](tampered(token), published)
    with pytest.raises(jwt.InvalidTokenError):
        namespace["verify"](jwt.encode({"lic": {}}, "x" * 32, algorithm="HS256"), published)


def test_the_license_page_links_to_the_verify_page_with_its_latest_token(world, client):
    license = generated(world)
    client.force_login(world.dist_admin)
    page = client.get(f"/licenses/{license.pk}/").content.decode()
    token = token_of(license)
    assert f'href="/verify/#{token}"' in page
    assert signing.fingerprint(token) in page
