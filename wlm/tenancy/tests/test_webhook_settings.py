"""A tenant's webhook URL and signing secret are credentials: the URL is shown only to
the tenant's own admins and to staff admins (``null`` for every other reader, in JSON,
CSV and the browsable API); the secret is never read back, only shown once when an
admin rotates it."""

import pytest

from wlm.tenancy.models import Distributor, Organization, Partner
from wlm.tests.test_bad_input import assert_problem

pytestmark = pytest.mark.django_db

MODELS = {"dist": Distributor, "partner": Partner, "org": Organization}
LISTS = {
    "dist": "/api/v1/distributors/",
    "partner": "/api/v1/partners/",
    "org": "/api/v1/organizations/",
}
# receivers often take their credentials in the URL
URLS = {name: f"https://{name}-user:{name}-pass@93.184.215.14/{name}" for name in MODELS}
# the tenants whose webhook URL each reader may see
OWN = {
    "staff": {"dist", "partner", "org"},
    "dist_admin": {"dist"},
    "partner_admin": {"partner"},
    "org_admin": {"org"},
}
READERS = [
    "staff",
    "staff_viewer",
    "dist_admin",
    "dist_viewer",
    "partner_admin",
    "partner_viewer",
    "org_admin",
    "org_viewer",
]


@pytest.fixture
def hooked(world):
    for name, model in MODELS.items():
        model.objects.filter(pk=getattr(world, name).pk).update(webhook_url=URLS[name])
        getattr(world, name).refresh_from_db()
    return world


def detail(world, tenant: str) -> str:
    return f"{LISTS[tenant]}{getattr(world, tenant).pk}/"


def text_of(response) -> str:
    assert response.status_code == 200, response.content
    if response.streaming:
        return b"".join(response.streaming_content).decode()
    return response.content.decode()


def leaked(world, text: str) -> tuple[set[str], set[str]]:
    """(tenants whose URL, tenants whose secret) appear anywhere in ``text``."""
    urls = {name for name in MODELS if f"{name}-pass" in text}
    secrets = {name for name in MODELS if getattr(world, name).webhook_secret in text}
    return urls, secrets


@pytest.mark.parametrize(
    ("person", "tenant", "shown"),
    [
        # downstream readers: an organization's people and its partner and distributor
        ("org_viewer", "partner", False),
        ("org_viewer", "dist", False),
        ("org_admin", "partner", False),
        ("org_admin", "dist", False),
        ("partner_admin", "dist", False),
        ("partner_viewer", "dist", False),
        # upstream readers: managing an organization is not being its admin
        ("partner_admin", "org", False),
        ("dist_admin", "partner", False),
        ("dist_admin", "org", False),
        # the tenant's own people
        ("org_admin", "org", True),
        ("org_viewer", "org", False),
        ("partner_admin", "partner", True),
        ("partner_viewer", "partner", False),
        ("dist_admin", "dist", True),
        ("dist_viewer", "dist", False),
        # the platform operator: admins yes, read-only staff no
        ("staff", "dist", True),
        ("staff", "partner", True),
        ("staff", "org", True),
        ("staff_viewer", "dist", False),
        ("staff_viewer", "partner", False),
        ("staff_viewer", "org", False),
    ],
)
def test_a_webhook_url_is_for_the_tenants_admins_and_staff(hooked, api, person, tenant, shown):
    response = api(getattr(hooked, person)).get(detail(hooked, tenant))
    body = response.json()
    assert body["webhook_url"] == (URLS[tenant] if shown else None)
    assert "webhook_secret" not in body
    assert leaked(hooked, text_of(response)) == ({tenant} if shown else set(), set())


@pytest.mark.parametrize("form", ["json", "csv", "html"])
@pytest.mark.parametrize("person", READERS)
def test_lists_csv_and_browsable_api_show_only_own_webhook_urls(hooked, api, person, form):
    client = api(getattr(hooked, person))
    urls, secrets = set(), set()
    for path in LISTS.values():
        if form == "csv":
            text = text_of(client.get(path, {"format": "csv"}))
            header = text.splitlines()[0].split(",")
            assert "webhook_url" in header and "webhook_secret" not in header
        elif form == "html":
            text = text_of(client.get(path, HTTP_ACCEPT="text/html"))
        else:
            response = client.get(path)
            text = text_of(response)
            assert all(
                "webhook_url" in row and "webhook_secret" not in row
                for row in response.json()["results"]
            )
        seen_urls, seen_secrets = leaked(hooked, text)
        urls |= seen_urls
        secrets |= seen_secrets
    assert urls == OWN.get(person, set())
    assert secrets == set()


def test_the_browsable_api_form_of_a_managed_organization_hides_its_url(hooked, api):
    """The partner admin may change the organization, so the page carries its edit form,
    filled with the row as that reader sees it."""
    text = text_of(api(hooked.partner_admin).get(detail(hooked, "org"), HTTP_ACCEPT="text/html"))
    assert "PATCH" in text
    assert leaked(hooked, text) == (set(), set())


def test_writes_answer_the_row_as_the_writer_may_read_it(hooked, api):
    changed = api(hooked.partner_admin).patch(detail(hooked, "org"), {"email": "new@example.com"})
    assert changed.status_code == 200, changed.content
    assert changed.json()["webhook_url"] is None
    assert Organization.objects.get(pk=hooked.org.pk).webhook_url == URLS["org"]
    own = api(hooked.org_admin).patch(detail(hooked, "org"), {"email": "own@example.com"})
    assert own.json()["webhook_url"] == URLS["org"]
    moved = api(hooked.org_admin).patch(
        detail(hooked, "org"), {"webhook_url": "https://93.184.215.14/x"}
    )
    assert moved.status_code == 200, moved.content
    assert moved.json()["webhook_url"] == "https://93.184.215.14/x"
    assert Organization.objects.get(pk=hooked.org.pk).webhook_url == "https://93.184.215.14/x"
    created = api(hooked.partner_admin).post(LISTS["org"], {"name": "New Org"})
    assert created.status_code == 201, created.content
    assert created.json()["webhook_url"] is None
    assert "webhook_secret" not in created.json()


def test_a_secret_sent_in_a_write_is_ignored(hooked, api):
    before = hooked.org.webhook_secret
    response = api(hooked.org_admin).patch(
        detail(hooked, "org"), {"webhook_secret": "chosen-by-the-caller", "email": "x@example.com"}
    )
    assert response.status_code == 200, response.content
    assert "webhook_secret" not in response.json()
    assert Organization.objects.get(pk=hooked.org.pk).webhook_secret == before


# --- the secret: shown once, when an admin rotates it --------------------------------


@pytest.mark.parametrize(
    ("person", "tenant", "status"),
    [
        ("dist_admin", "dist", 200),
        ("partner_admin", "partner", 200),
        ("org_admin", "org", 200),
        ("staff", "dist", 200),
        ("staff", "org", 200),
        ("dist_viewer", "dist", 403),
        ("org_viewer", "org", 403),
        ("staff_viewer", "org", 403),
        ("partner_admin", "org", 403),  # it manages the organization, but is not its admin
        ("org_admin", "partner", 403),
        ("dist_admin", "partner", 403),
        ("gateway", "org", 403),
        ("other_org_admin", "org", 404),
        ("other_dist_admin", "dist", 404),
        (None, "org", 401),
    ],
)
def test_the_webhook_secret_is_shown_once_by_rotating_it(hooked, api, person, tenant, status):
    model, pk = MODELS[tenant], getattr(hooked, tenant).pk
    before = model.objects.get(pk=pk).webhook_secret
    client = api(getattr(hooked, person) if person else None)
    response = client.post(f"{detail(hooked, tenant)}webhook-secret/")
    after = model.objects.get(pk=pk).webhook_secret
    if status != 200:
        assert_problem(response, status)
        assert after == before
        return
    assert response.status_code == 200, response.content
    assert response.json() == {"webhook_secret": after}
    assert after != before and len(after) == 64 and int(after, 16) >= 0
    assert "no-store" in response["Cache-Control"]
    assert after not in text_of(client.get(detail(hooked, tenant)))
    assert after not in text_of(client.get(LISTS[tenant], {"format": "csv"}))


def test_the_schema_tells_what_readers_get(api):
    schema = api().get("/api/v1/schema/", {"format": "json"}).json()
    components = schema["components"]["schemas"]
    for name in ("Distributor", "Partner", "Organization"):
        properties = components[name]["properties"]
        assert "webhook_secret" not in properties, name
        assert properties["webhook_url"].get("nullable") is True, name
        request = components[f"{name}Request"]["properties"]
        assert "webhook_secret" not in request
        assert not request["webhook_url"].get("nullable"), name  # null is not a value to send
    operation = schema["paths"]["/api/v1/organizations/{id}/webhook-secret/"]["post"]
    assert "requestBody" not in operation
    body = operation["responses"]["200"]["content"]["application/json"]["schema"]
    secret = components[body["$ref"].rsplit("/", 1)[-1]]
    assert secret["required"] == ["webhook_secret"]
