"""The users page in a real browser (docs/pages.md, "Users"): an organization's admin
opens it from the menu, invites a user by e-mail (sent through a real SMTP server), sees
them listed as invited, the invitee sets a password through the link, and the admin
deactivates them in the dialog."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

pytestmark = pytest.mark.browser
PASSWORD = "a-long-new-password-42"


def test_invite_list_and_deactivate(open_as, live_server, smtp):
    page = open_as("marazul")
    page.goto("/")
    page.get_by_test_id("users-link").click()
    expect(page).to_have_url(re.compile(r"/users/$"))
    expect(page.get_by_role("heading", name="Users", level=1)).to_be_visible()

    form = page.get_by_test_id("invite-form")
    form.get_by_label("E-mail").fill("nina@example.com")
    form.get_by_label("Name").fill("Nina <Ruiz>")
    form.get_by_label("Role").select_option("viewer")
    form.get_by_test_id("invite-submit").click()
    expect(page.get_by_text("An invitation was sent to nina@example.com.")).to_be_visible()
    row = page.locator('[data-testid="user-row"][data-user="nina@example.com"]')
    expect(row).to_have_attribute("data-state", "invited")
    expect(row).to_contain_text("Nina <Ruiz>")

    (mail,) = smtp.to("nina@example.com")
    (link,) = re.findall(r"https?://[^/\s]+(/invitation/\S+/)", mail.part("text/plain"))
    invitee = open_as(None)
    invitee.goto(link)
    invitee.locator("input[name=new_password1]").fill(PASSWORD)
    invitee.locator("input[name=new_password2]").fill(PASSWORD)
    invitee.get_by_test_id("set-password").click()
    expect(invitee).to_have_url(re.compile(r"/accounts/login/$"))
    invitee.goto(link)
    expect(invitee.get_by_test_id("invitation-invalid")).to_be_visible()

    page.reload()
    row = page.locator('[data-testid="user-row"][data-user="nina@example.com"]')
    expect(row).to_have_attribute("data-state", "active")
    row.get_by_test_id("deactivate-user").click()
    dialog = page.get_by_test_id("deactivate-dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_test_id("deactivate-confirm").click()
    expect(page.get_by_text("nina@example.com is deactivated.")).to_be_visible()
    row = page.locator('[data-testid="user-row"][data-user="nina@example.com"]')
    expect(row).to_have_attribute("data-state", "deactivated")
    assert not get_user_model().objects.get(username="nina@example.com").is_active
