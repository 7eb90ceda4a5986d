"""The module catalogue: seeded by a migration, read by all, kept by staff."""

import pytest

from wlm.licenses.models import Module

pytestmark = pytest.mark.django_db


def test_catalogue_seeded_by_migration():
    assert set(Module.objects.values_list("code", flat=True)) >= {
        "guest",
        "business",
        "enterprise",
        "easy_auth",
        "pms",
        "analytics",
    }
    assert not Module.objects.get(code="guest").advanced
    assert Module.objects.get(code="pms").advanced


@pytest.mark.parametrize("person", ["staff_viewer", "dist_viewer", "partner_admin", "org_viewer"])
def test_every_tenant_reads_catalogue(world, api, person):
    response = api(getattr(world, person)).get("/api/v1/modules/?page_size=100")
    assert response.status_code == 200
    codes = [row["code"] for row in response.json()["results"]]
    assert codes[0] == "guest"  # the base module first
    assert "enterprise" in codes
    assert api(getattr(world, person)).get("/api/v1/modules/pms/").json()["name"] == "PMS"


def test_staff_adds_and_edits_modules(world, api):
    client = api(world.staff)
    response = client.post(
        "/api/v1/modules/",
        {"code": "iot", "name": "IoT", "description": "Sensors", "advanced": True},
    )
    assert response.status_code == 201, response.content
    response = client.patch("/api/v1/modules/iot/", {"name": "IoT sensors", "code": "other"})
    assert response.status_code == 200
    assert Module.objects.get(code="iot").name == "IoT sensors"  # the code never changes


def test_duplicate_module_code_is_conflict(world, api):
    response = api(world.staff).post("/api/v1/modules/", {"code": "pms", "name": "Again"})
    assert response.status_code == 409
    assert Module.objects.get(code="pms").name == "PMS"


@pytest.mark.parametrize("person", ["staff_viewer", "dist_admin", "partner_admin", "org_admin"])
def test_only_staff_admins_change_catalogue(world, api, person):
    client = api(getattr(world, person))
    assert client.post("/api/v1/modules/", {"code": "x", "name": "X"}).status_code == 403
    assert client.patch("/api/v1/modules/pms/", {"name": "Hacked"}).status_code == 403
    assert not Module.objects.filter(code="x").exists()
    assert Module.objects.get(code="pms").name == "PMS"


def test_module_code_validated(world, api):
    response = api(world.staff).post("/api/v1/modules/", {"code": "Bad Code!", "name": "X"})
    assert response.status_code == 400
    assert "code" in response.json()["errors"]
