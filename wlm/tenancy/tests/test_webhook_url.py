"""A tenant's webhook URL is refused at save unless it is http(s) to a public address
(the notifier would otherwise POST license keys into the server's own network: SSRF).
No connection is made to check it; a host name is resolved, and one that does not
resolve is refused too."""

import pytest
from django.contrib.auth import get_user_model

from wlm.tenancy.models import Distributor, Organization

pytestmark = pytest.mark.django_db

REFUSED = [
    "http://127.0.0.1:8000/hook",
    "http://localhost/hook",
    "http://[::1]/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://0.0.0.0:22/",
    "http://10.0.0.1/hook",
    "http://172.16.0.1/hook",
    "http://192.168.1.1/hook",
    "http://100.64.0.1/hook",
    "http://[fd00::1]/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://metadata.google.internal/computeMetadata/v1/",  # does not resolve here
    "ftp://example.com/hook",
    # more spellings of the same places
    "https://[::]/",
    "http://[fe80::1]/",
    "http://224.0.0.1/",
    "http://[64:ff9b::a00:1]/",  # NAT64 of 10.0.0.1
    "http://[2002:a00:1::1]/",  # 6to4 of 10.0.0.1
    "http://127.0.0.1.nip.invalid/",  # does not resolve
]
PUBLIC = "https://93.184.215.14/hook"  # a public address: valid without any lookup


def problem_fields(response) -> dict:
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/problem+json"
    return response.json()["errors"]


@pytest.mark.parametrize("url", REFUSED)
def test_a_webhook_url_that_is_not_public_is_refused(world, api, url):
    response = api(world.org_admin).patch(
        f"/api/v1/organizations/{world.org.pk}/", {"webhook_url": url}, format="json"
    )
    assert "webhook_url" in problem_fields(response)
    assert Organization.objects.get(pk=world.org.pk).webhook_url == ""


def test_the_refusal_says_why(world, api):
    path = f"/api/v1/distributors/{world.dist.pk}/"
    client = api(world.dist_admin)
    (private,) = problem_fields(client.patch(path, {"webhook_url": "http://10.0.0.1/"}))[
        "webhook_url"
    ]
    assert "public internet addresses" in private
    unknown = problem_fields(client.patch(path, {"webhook_url": "https://hooks.invalid/"}))
    assert unknown["webhook_url"] == ["This host name does not resolve to an address."]
    scheme = problem_fields(client.patch(path, {"webhook_url": "ftp://93.184.215.14/"}))
    assert "Enter an http:// or https:// URL." in scheme["webhook_url"]


def test_a_new_organization_with_a_private_webhook_url_is_not_created(world, api):
    before = Organization.objects.count()
    response = api(world.partner_admin).post(
        "/api/v1/organizations/",
        {"name": "Hotel Sol", "webhook_url": "http://169.254.169.254/"},
        format="json",
    )
    assert "webhook_url" in problem_fields(response)
    assert Organization.objects.count() == before


def test_a_public_address_is_saved(world, api):
    response = api(world.org_admin).patch(
        f"/api/v1/organizations/{world.org.pk}/", {"webhook_url": PUBLIC}, format="json"
    )
    assert response.status_code == 200, response.content
    assert Organization.objects.get(pk=world.org.pk).webhook_url == PUBLIC


def test_no_webhook_url_is_fine(world, api):
    world.org.webhook_url = PUBLIC
    world.org.save(update_fields=["webhook_url"])
    response = api(world.org_admin).patch(
        f"/api/v1/organizations/{world.org.pk}/", {"webhook_url": ""}, format="json"
    )
    assert response.status_code == 200, response.content
    assert Organization.objects.get(pk=world.org.pk).webhook_url == ""


def test_the_setting_admits_loopback_and_private_but_not_link_local(settings, world, api):
    settings.WEBHOOK_ALLOW_PRIVATE = True
    path = f"/api/v1/organizations/{world.org.pk}/"
    client = api(world.org_admin)
    for url in ("http://127.0.0.1:8000/hook", "http://localhost/hook", "http://10.0.0.1/"):
        assert client.patch(path, {"webhook_url": url}).status_code == 200
    for url in ("http://169.254.169.254/", "http://0.0.0.0/", "http://[fe80::1]/"):
        assert "webhook_url" in problem_fields(client.patch(path, {"webhook_url": url}))
    assert Organization.objects.get(pk=world.org.pk).webhook_url == "http://10.0.0.1/"


def test_the_django_admin_refuses_a_private_webhook_url(client, world):
    root = get_user_model().objects.create_superuser("root", "root@example.com", "pw-12345678")
    client.force_login(root)
    path = f"/admin/tenancy/distributor/{world.dist.pk}/change/"
    form = {"name": "Dist", "email": "dist@example.com", "language": "en"}
    response = client.post(path, {**form, "webhook_url": "http://127.0.0.1:6379/"})
    assert response.status_code == 200  # the form again, with the error
    assert "webhooks are sent only to public internet addresses" in response.content.decode()
    assert Distributor.objects.get(pk=world.dist.pk).webhook_url == ""
    response = client.post(path, {**form, "webhook_url": PUBLIC})
    assert response.status_code == 302
    assert Distributor.objects.get(pk=world.dist.pk).webhook_url == PUBLIC


def test_a_stored_url_that_no_longer_resolves_does_not_block_other_changes(world, api):
    """Only the fields a change sets are judged: a webhook host that stopped resolving
    since it was saved does not refuse a new notice e-mail."""
    Organization.objects.filter(pk=world.org.pk).update(webhook_url="https://gone.invalid/h")
    response = api(world.org_admin).patch(
        f"/api/v1/organizations/{world.org.pk}/", {"email": "new@example.com"}, format="json"
    )
    assert response.status_code == 200, response.content
    organization = Organization.objects.get(pk=world.org.pk)
    assert (organization.email, organization.webhook_url) == (
        "new@example.com",
        "https://gone.invalid/h",
    )
