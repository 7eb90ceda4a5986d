"""The tenant's settings page in a real browser (docs/settings.md): an organization's admin
opens it from the menu, changes the notice e-mail and points the webhook at a real HTTP
server, makes a new signing secret (shown once), sends a test webhook and sees the
receiver's answer; the receiver checks the signature with that secret. A viewer of the
same tenant reads the page without any form."""

from __future__ import annotations

import json
import re
import threading

import pytest
from playwright.sync_api import expect

from wlm.notifications.tests.hooks import HookHandler, HookRecorder, HookServer, verify
from wlm.tenancy.models import Organization

pytestmark = pytest.mark.browser


@pytest.fixture
def receiver(settings):
    """A real webhook receiver on 127.0.0.1 (private destinations allowed, as in the
    notifications tests' ``hooks``)."""
    settings.WEBHOOK_ALLOW_PRIVATE = True
    server = HookServer(("127.0.0.1", 0), HookHandler)
    server.recorder = HookRecorder(port=server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    yield server.recorder
    server.shutdown()
    server.server_close()
    thread.join()


def test_edit_rotate_and_send_a_test(open_as, receiver):
    page = open_as("marazul")
    page.goto("/")
    page.get_by_test_id("settings-link").click()
    hotel = Organization.objects.get(name="Hotel Mar Azul")
    expect(page).to_have_url(re.compile(rf"/settings/organization/{hotel.pk}/$"))
    expect(page.get_by_role("heading", name=re.compile("Settings"), level=1)).to_be_visible()

    form = page.get_by_test_id("settings-form")
    form.get_by_label("Notice e-mail").fill("alerts@hotelmarazul.example")
    form.get_by_label("Webhook URL").fill(receiver.url("/wlm"))
    form.get_by_role("button", name="Save settings").click()
    expect(page.get_by_text("The settings are saved.")).to_be_visible()
    expect(page.get_by_label("Notice e-mail")).to_have_value("alerts@hotelmarazul.example")
    hotel.refresh_from_db()
    assert (hotel.email, hotel.webhook_url) == ("alerts@hotelmarazul.example", receiver.url("/wlm"))

    # a new secret, shown once
    page.get_by_test_id("rotate-form").get_by_role("button").click()
    expect(page.get_by_test_id("secret-created")).to_be_visible()
    secret = page.get_by_test_id("webhook-secret").inner_text().strip()
    hotel.refresh_from_db()
    assert secret == hotel.webhook_secret and len(secret) == 64
    page.goto(f"/settings/organization/{hotel.pk}/")
    expect(page.get_by_test_id("secret-created")).to_have_count(0)
    assert secret not in page.content()

    # the test webhook: the page shows the receiver's answer; the signature checks out
    page.get_by_test_id("test-webhook").click()
    expect(page.get_by_test_id("test-outcome")).to_contain_text("Delivered")
    expect(page.get_by_test_id("test-outcome")).to_contain_text("HTTP 204")
    (hit,) = receiver.hits
    assert verify(secret, hit.headers["wlm-signature"], hit.body)
    assert json.loads(hit.body)["type"] == "test"

    # the receiver fails the next one: the page says so, with its status
    receiver.statuses.append(503)
    page.get_by_test_id("test-webhook").click()
    expect(page.get_by_test_id("test-outcome")).to_contain_text("Not delivered")
    expect(page.get_by_test_id("test-outcome")).to_contain_text("HTTP 503")


def test_a_viewer_reads_without_forms(open_as):
    page = open_as("marazul-viewer")
    page.goto("/settings/")
    expect(page.get_by_test_id("settings-read-only")).to_be_visible()
    expect(page.get_by_test_id("settings-email")).to_have_text("it@hotelmarazul.example")
    expect(page.get_by_test_id("settings-form")).to_have_count(0)
    expect(page.get_by_test_id("test-form")).to_have_count(0)
    expect(page.get_by_role("heading", name="Delivery log")).to_be_visible()
