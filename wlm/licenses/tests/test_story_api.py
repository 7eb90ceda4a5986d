"""The whole story through the API: request → approve → PDF → Send Key → entitlement."""

import pytest

from wlm.licenses.models import EventKind, License, LicenseEvent

pytestmark = pytest.mark.django_db


def test_request_approve_pdf_send_key_entitlement(world, api):
    asked = api(world.partner_admin).post(
        "/api/v1/license-requests/",
        {
            "location": str(world.hotel.pk),
            "distributor": world.dist.pk,
            "years": 2,
            "payment": "annual",
            "rooms": 20,
            "modules": ["pms"],
        },
    )
    assert asked.status_code == 201, asked.content
    request_id = asked.json()["id"]
    assert asked.json()["state"] == "pending"
    assert asked.json()["partner"] == world.partner.pk

    queue = api(world.dist_admin).get("/api/v1/license-requests/?state=pending").json()
    assert [row["id"] for row in queue["results"]] == [request_id]

    approved = api(world.dist_admin).post(f"/api/v1/license-requests/{request_id}/approve/", {})
    assert approved.status_code == 201, approved.content
    license = approved.json()
    assert license["status"] == "pending_provision"
    assert license["rooms"] == 20 and license["aps"] is None
    assert "pms" in license["modules"] and "guest" in license["modules"]

    pdf = api(world.partner_admin).get(f"/api/v1/licenses/{license['id']}/pdf/")
    assert pdf.status_code == 200
    assert pdf["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")

    sent = api(world.org_admin).post(
        f"/api/v1/locations/{world.hotel.pk}/activate/", {"key": license["key"].lower()}
    )
    assert sent.status_code == 200, sent.content
    assert sent.json()["status"] == "pending_start"
    assert sent.json()["organization"] == world.org.pk

    entitlement = api(world.gateway).get(f"/api/v1/locations/{world.hotel.pk}/entitlement/")
    assert entitlement.json()["service"] == "available"
    assert entitlement.json()["rooms"] == {"max": 20, "used": 1}

    detail = api(world.org_viewer).get(f"/api/v1/licenses/{license['id']}/").json()
    assert [event["kind"] for event in detail["upgrades"]] == ["created", "provisioned"]
    assert detail["assignments"] == [
        {"location": str(world.hotel.pk), "name": "Hotel", "access_points": 1, "rooms": 1}
    ]
    assert detail["general"]["rooms"] == {"max": 20, "used": 1}
    assert LicenseEvent.objects.filter(
        license=License.objects.get(pk=license["id"]), kind=EventKind.PROVISIONED
    ).exists()
