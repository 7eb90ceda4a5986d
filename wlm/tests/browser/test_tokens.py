"""API tokens in a real browser (docs/pages.md, "API tokens"): a partner's admin opens the
page from the user's menu, makes a read-only token, copies its secret (shown once), uses
it as curl would, sees "Last used" change, revokes it in the dialog, and the next call is
refused."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request

import pytest
from playwright.sync_api import expect

from wlm.tenancy.models import ApiToken

pytestmark = pytest.mark.browser


def call(base_url: str, secret: str, method: str = "GET") -> tuple[int, dict]:
    """``curl -H "Authorization: Token <secret>" …/api/v1/locations/``: (status, body)."""
    request = urllib.request.Request(
        f"{base_url}/api/v1/locations/",
        method=method,
        data=b"{}" if method != "GET" else None,
        headers={"Authorization": f"Token {secret}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read())


def test_make_use_and_revoke_a_read_only_token(open_as, live_server):
    page = open_as("costa")
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.goto("/")
    page.get_by_test_id("tokens-link").click()
    expect(page).to_have_url(re.compile(r"/tokens/$"))
    expect(page.get_by_role("heading", name="API tokens", level=1)).to_be_visible()

    form = page.get_by_test_id("token-form")
    form.get_by_label("Name").fill("Billing system")
    form.get_by_label("Read only").check()
    form.get_by_role("button", name="Create token").click()
    created = page.get_by_test_id("token-created")
    expect(created).to_be_visible()
    secret = page.get_by_test_id("token-secret").inner_text().strip()
    token = ApiToken.objects.get(user__username="costa", name="Billing system")
    assert (token.scope, token.prefix) == ("read", secret[:12])

    # the copy button (shown where the page may write to the clipboard) copies it
    page.get_by_test_id("copy-token").click()
    expect(page.get_by_test_id("copy-token-status")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == secret

    # used as curl would: it reads, it may not write
    assert call(live_server.url, secret)[0] == 200
    status, body = call(live_server.url, secret, "POST")
    assert status == 403 and body["type"].endswith("/read-only-token")

    # shown once: the list has its prefix and when it was last used, never the secret
    page.goto("/tokens/")
    assert secret not in page.content()
    row = page.get_by_test_id("own-tokens").locator("tr[data-testid=token-row]", has_text="Billing")
    expect(row).to_contain_text(f"{secret[:12]}…")
    expect(row.get_by_test_id("token-last-used")).not_to_have_text("Not used yet")

    # revoked in the dialog: gone from the list, and the next call is refused
    row.get_by_test_id("revoke-token").click()
    dialog = page.get_by_test_id("revoke-dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_test_id("revoke-confirm").click()
    expect(page.get_by_text("The token “Billing system” is revoked.")).to_be_visible()
    expect(page.get_by_test_id("own-tokens-none")).to_be_visible()
    status, body = call(live_server.url, secret)
    assert status == 401 and body["type"].endswith("/token-revoked")
