"""License requests and direct licenses through the API (API.md "License requests",
"Licenses" POST; DESIGN §1-§2): who may ask, what a request must say, the distributor's
queue, approval (the license is generated) and rejection, and licenses made without
a request."""

import csv
import datetime as dt
import io
import re
import uuid

import pytest
import time_machine

from wlm.licenses import services
from wlm.licenses.models import (
    EventKind,
    License,
    LicenseEvent,
    LicenseRequest,
    RequestState,
)
from wlm.licenses.tests.conftest import ask

pytestmark = pytest.mark.django_db

REQUESTS = "/api/v1/license-requests/"
LICENSES = "/api/v1/licenses/"
_DROP = object()  # a field left out of the body
KEY = re.compile(r"^[0-9A-HJKMNP-TV-Z]{5}(-[0-9A-HJKMNP-TV-Z]{5}){4}$")
NOW = dt.datetime(2027, 3, 10, 12, tzinfo=dt.UTC)  # Madrid: 10 March; Auckland: 11 March


# --- helpers ----------------------------------------------------------------------------


def hotel_terms(world, **changes) -> dict:
    """A valid body for the hotel (hospitality: licensed by rooms)."""
    body = {
        "location": str(world.hotel.pk),
        "distributor": world.dist.pk,
        "years": 2,
        "payment": "annual",
        "rooms": 20,
        "modules": ["pms"],
    }
    return _changed(body, changes)


def shop_terms(world, **changes) -> dict:
    """A valid body for the shop (retail: licensed by access points)."""
    body = {
        "location": str(world.shop.pk),
        "distributor": world.dist.pk,
        "years": 3,
        "payment": "monthly",
        "aps": 10,
        "modules": [],
    }
    return _changed(body, changes)


def _changed(body: dict, changes: dict) -> dict:
    """``name=_DROP`` in ``changes`` removes the field; other values replace it."""
    body = dict(body)
    for name, value in changes.items():
        if value is _DROP:
            body.pop(name, None)
        else:
            body[name] = value
    return body


def stored() -> tuple[int, int, int]:
    """(requests, licenses, license events): the 'nothing stored' witness."""
    return LicenseRequest.objects.count(), License.objects.count(), LicenseEvent.objects.count()


def assert_problem(response, status: int) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status
    assert body["title"] and body["detail"] and body["type"]
    return body


def assert_field_errors(response, fields: set[str]) -> dict:
    body = assert_problem(response, 400)
    assert set(body["errors"]) == fields, body
    assert all(body["errors"][field] for field in fields)
    return body


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


def approve(api, user, request_id, body=None):
    return api(user).post(f"{REQUESTS}{request_id}/approve/", body or {})


def reject(api, user, request_id, body):
    return api(user).post(f"{REQUESTS}{request_id}/reject/", body)


# --- creating a request -------------------------------------------------------------------


@pytest.mark.parametrize("who", ["partner_admin", "staff"])
def test_request_by_partner_admin_or_staff_is_created_pending(world, api, who):
    user = getattr(world, who)
    response = api(user).post(REQUESTS, hotel_terms(world, modules=["pms", "analytics"]))

    assert response.status_code == 201, response.content
    row = response.json()
    assert row["state"] == "pending"
    assert row["location"] == str(world.hotel.pk)
    assert row["partner"] == world.partner.pk  # the partner of the location's organization
    assert row["distributor"] == world.dist.pk
    assert (row["years"], row["payment"]) == (2, "annual")
    assert (row["rooms"], row["aps"]) == (20, None)
    assert sorted(row["modules"]) == ["analytics", "pms"]  # codes, not ids
    assert (row["reason"], row["license"], row["decided"]) == ("", None, None)
    request = LicenseRequest.objects.get(pk=row["id"])
    assert request.requested_by == user
    assert request.partner == world.partner
    assert License.objects.count() == 0  # a request is not a license yet


def test_request_for_retail_location_is_licensed_by_aps_without_modules(world, api):
    response = api(world.partner_admin).post(REQUESTS, shop_terms(world))
    assert response.status_code == 201, response.content
    row = response.json()
    assert (row["aps"], row["rooms"], row["modules"]) == (10, None, [])
    assert (row["years"], row["payment"]) == (3, "monthly")


def test_request_partner_comes_from_the_location_not_from_the_body(world, api):
    response = api(world.staff).post(REQUESTS, hotel_terms(world, partner=world.other_partner.pk))
    assert response.status_code == 201, response.content
    assert response.json()["partner"] == world.partner.pk


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("partner_viewer", 403),
        ("org_admin", 403),
        ("org_viewer", 403),
        ("dist_admin", 403),
        ("dist_viewer", 403),
        ("staff_viewer", 403),
        ("gateway", 403),
        (None, 401),
    ],
)
def test_request_refused_for_those_who_do_not_ask(world, api, who, status):
    before = stored()
    user = getattr(world, who) if who else None
    response = api(user).post(REQUESTS, hotel_terms(world))
    assert_problem(response, status)
    assert stored() == before


def test_request_by_other_partner_for_hotel_is_400_like_a_missing_location(world, api):
    """The hotel is not visible to the other partner: same answer as an unknown id."""
    before = stored()
    client = api(world.other_partner_admin)
    hidden = client.post(REQUESTS, hotel_terms(world, distributor=world.other_dist.pk))
    missing_id = uuid.uuid4()
    missing = client.post(
        REQUESTS, hotel_terms(world, distributor=world.other_dist.pk, location=str(missing_id))
    )

    hidden_errors = assert_field_errors(hidden, {"location"})["errors"]["location"]
    missing_errors = assert_field_errors(missing, {"location"})["errors"]["location"]
    assert [m.replace(str(world.hotel.pk), "<id>") for m in hidden_errors] == [
        m.replace(str(missing_id), "<id>") for m in missing_errors
    ]
    assert stored() == before


def test_request_by_partner_for_another_partners_location_is_400(world, api):
    before = stored()
    response = api(world.partner_admin).post(
        REQUESTS, shop_terms(world, location=str(world.other_office.pk))
    )
    assert_field_errors(response, {"location"})
    assert stored() == before


# --- validation ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("place", "changes", "fields"),
    [
        ("hotel", {"years": 0}, {"years"}),
        ("hotel", {"years": 6}, {"years"}),
        ("hotel", {"years": "two"}, {"years"}),
        ("hotel", {"payment": "weekly"}, {"payment"}),
        ("hotel", {"payment": _DROP}, {"payment"}),
        # hospitality is licensed by rooms, and only by rooms
        ("hotel", {"rooms": _DROP, "aps": 5}, {"rooms", "aps"}),
        ("hotel", {"rooms": 20, "aps": 5}, {"aps"}),
        ("hotel", {"rooms": _DROP}, {"rooms"}),
        ("hotel", {"rooms": None}, {"rooms"}),
        ("hotel", {"rooms": 0}, {"rooms"}),
        # other sectors are licensed by access points, never by rooms
        ("shop", {"rooms": 5}, {"rooms"}),
        ("shop", {"aps": _DROP, "rooms": 5}, {"aps", "rooms"}),
        ("shop", {"aps": _DROP}, {"aps"}),
        ("shop", {"aps": 0}, {"aps"}),
        ("shop", {"aps": -3}, {"aps"}),
        ("shop", {"aps": 1_000_001}, {"aps"}),
        ("shop", {"aps": 10**30}, {"aps"}),
        ("shop", {"modules": ["teleportation"]}, {"modules"}),
        ("shop", {"modules": "pms"}, {"modules"}),
        ("shop", {"modules": [None]}, {"modules"}),
        ("shop", {"modules": None}, {"modules"}),
        ("shop", {"location": _DROP}, {"location"}),
        ("shop", {"location": "not-a-uuid"}, {"location"}),
        ("shop", {"location": None}, {"location"}),
        ("shop", {"distributor": 10**30}, {"distributor"}),
    ],
    ids=lambda value: repr(value) if isinstance(value, dict) else None,
)
def test_request_invalid_terms_are_400_per_field(world, api, place, changes, fields):
    before = stored()
    body = (hotel_terms if place == "hotel" else shop_terms)(world, **changes)
    response = api(world.partner_admin).post(REQUESTS, body)
    assert_field_errors(response, fields)
    assert stored() == before


def test_request_repeated_module_is_stored_once(world, api):
    response = api(world.partner_admin).post(REQUESTS, shop_terms(world, modules=["pms", "pms"]))
    assert response.status_code == 201, response.content
    assert response.json()["modules"] == ["pms"]


def test_request_accepts_the_largest_limit(world, api):
    response = api(world.partner_admin).post(REQUESTS, shop_terms(world, aps=1_000_000))
    assert response.status_code == 201, response.content
    assert response.json()["aps"] == 1_000_000


def test_request_refuses_rooms_for_retail_location(world, api):
    before = stored()
    response = api(world.partner_admin).post(REQUESTS, shop_terms(world, rooms=12))
    body = assert_field_errors(response, {"rooms"})
    assert "hospitality" in body["errors"]["rooms"][0]
    assert stored() == before


def test_request_refuses_aps_for_hospitality_location(world, api):
    response = api(world.partner_admin).post(REQUESTS, hotel_terms(world, rooms=_DROP, aps=8))
    body = assert_field_errors(response, {"rooms", "aps"})
    assert "rooms" in body["errors"]["rooms"][0]


def test_request_refuses_distributor_the_partner_does_not_work_with(world, api):
    """``other_dist`` is not visible to the partner: 400 on ``distributor``."""
    before = stored()
    response = api(world.partner_admin).post(
        REQUESTS, hotel_terms(world, distributor=world.other_dist.pk)
    )
    assert_field_errors(response, {"distributor"})
    assert stored() == before


def test_staff_request_refuses_distributor_the_partner_does_not_work_with(world, api):
    """Staff see every distributor; the rule of the terms still refuses it."""
    before = stored()
    response = api(world.staff).post(REQUESTS, hotel_terms(world, distributor=world.other_dist.pk))
    body = assert_field_errors(response, {"distributor"})
    assert "does not work with" in body["errors"]["distributor"][0]
    assert stored() == before


def test_staff_request_needs_a_distributor(world, api):
    before = stored()
    response = api(world.staff).post(REQUESTS, hotel_terms(world, distributor=_DROP))
    assert_field_errors(response, {"distributor"})
    assert stored() == before


def test_partner_request_needs_a_distributor(world, api):
    before = stored()
    response = api(world.partner_admin).post(REQUESTS, hotel_terms(world, distributor=_DROP))
    assert_field_errors(response, {"distributor"})
    assert stored() == before


@pytest.mark.parametrize("body", ["not json", '{"location": ', "", "[1, 2"])
def test_request_with_non_json_body_is_400(world, api, body):
    before = stored()
    response = api(world.partner_admin).post(REQUESTS, data=body, content_type="application/json")
    assert_problem(response, 400)
    assert stored() == before


def test_request_with_a_list_instead_of_an_object_is_400(world, api):
    before = stored()
    response = api(world.partner_admin).post(REQUESTS, [hotel_terms(world)], format="json")
    body = assert_problem(response, 400)
    assert body["errors"]  # "expected a dictionary"
    assert stored() == before


def test_request_with_form_encoded_body_is_415(world, api):
    before = stored()
    response = api(world.partner_admin).post(
        REQUESTS, data="years=2", content_type="application/x-www-form-urlencoded"
    )
    assert_problem(response, 415)
    assert stored() == before


# --- the queue --------------------------------------------------------------------------------


@pytest.fixture
def queue(world):
    """Four requests: hotel (pending), shop (rejected), shop (approved) for ``dist``;
    the other partner's office (pending) for ``other_dist``."""
    hotel = ask(world.partner_admin, world.hotel, world.dist, years=1, rooms=10)
    shop_rejected = ask(world.partner_admin, world.shop, world.dist, years=3, aps=5)
    services.reject_request(world.dist_admin, shop_rejected.pk, "Budget cut")
    office = ask(world.other_partner_admin, world.other_office, world.other_dist, years=2, aps=4)
    shop_approved = ask(world.staff, world.shop, world.dist, years=5, payment="monthly", aps=7)
    services.approve_request(world.dist_admin, shop_approved.pk)
    return {
        "hotel": hotel.pk,
        "shop_rejected": shop_rejected.pk,
        "office": office.pk,
        "shop_approved": shop_approved.pk,
    }


def test_queue_distributor_lists_only_requests_addressed_to_it(world, api, queue):
    mine = {queue["hotel"], queue["shop_rejected"], queue["shop_approved"]}
    assert set(ids(api(world.dist_admin).get(REQUESTS))) == mine
    assert set(ids(api(world.dist_viewer).get(REQUESTS))) == mine
    assert ids(api(world.other_dist_admin).get(REQUESTS)) == [queue["office"]]


def test_queue_default_order_is_newest_first(world, api, queue):
    assert ids(api(world.dist_admin).get(REQUESTS)) == [
        queue["shop_approved"],
        queue["shop_rejected"],
        queue["hotel"],
    ]


def test_queue_state_filter_single_and_repeated(world, api, queue):
    client = api(world.dist_admin)
    assert ids(client.get(REQUESTS, {"state": "pending"})) == [queue["hotel"]]
    assert set(ids(client.get(f"{REQUESTS}?state=pending&state=rejected"))) == {
        queue["hotel"],
        queue["shop_rejected"],
    }
    assert ids(client.get(REQUESTS, {"state": "approved"})) == [queue["shop_approved"]]
    assert_field_errors(client.get(REQUESTS, {"state": "lost"}), {"state"})


def test_queue_other_distributor_sees_none_of_dists_requests(world, api, queue):
    response = api(world.other_dist_admin).get(REQUESTS, {"state": "pending"})
    assert ids(response) == [queue["office"]]
    detail = api(world.other_dist_admin).get(f"{REQUESTS}{queue['hotel']}/")
    assert_problem(detail, 404)


def test_queue_organization_sees_the_requests_of_its_locations(world, api, queue):
    ours = {queue["hotel"], queue["shop_rejected"], queue["shop_approved"]}
    assert set(ids(api(world.org_viewer).get(REQUESTS))) == ours
    assert ids(api(world.other_org_admin).get(REQUESTS)) == [queue["office"]]


def test_queue_partner_sees_its_requests_and_staff_sees_all(world, api, queue):
    ours = {queue["hotel"], queue["shop_rejected"], queue["shop_approved"]}
    assert set(ids(api(world.partner_viewer).get(REQUESTS))) == ours
    assert ids(api(world.other_partner_admin).get(REQUESTS)) == [queue["office"]]
    assert set(ids(api(world.staff_viewer).get(REQUESTS))) == set(queue.values())


def test_queue_gateway_and_anonymous_cannot_read(world, api, queue):
    assert_problem(api(world.gateway).get(REQUESTS), 403)
    assert_problem(api().get(REQUESTS), 401)


def test_queue_filters_location_partner_distributor(world, api, queue):
    staff = api(world.staff)
    assert set(ids(staff.get(REQUESTS, {"location": str(world.shop.pk)}))) == {
        queue["shop_rejected"],
        queue["shop_approved"],
    }
    assert set(ids(staff.get(REQUESTS, {"partner": world.partner.pk}))) == {
        queue["hotel"],
        queue["shop_rejected"],
        queue["shop_approved"],
    }
    assert ids(staff.get(REQUESTS, {"distributor": world.other_dist.pk})) == [queue["office"]]
    assert ids(staff.get(REQUESTS, {"payment": "monthly"})) == [queue["shop_approved"]]
    assert ids(staff.get(REQUESTS, {"years": 3})) == [queue["shop_rejected"]]


def test_queue_filter_by_invisible_or_malformed_id_is_400(world, api, queue):
    client = api(world.dist_admin)
    assert_field_errors(client.get(REQUESTS, {"distributor": world.other_dist.pk}), {"distributor"})
    assert_field_errors(client.get(REQUESTS, {"partner": world.other_partner.pk}), {"partner"})
    assert_field_errors(
        client.get(REQUESTS, {"location": str(world.other_office.pk)}), {"location"}
    )
    assert_field_errors(client.get(REQUESTS, {"location": "not-a-uuid"}), {"location"})


def test_queue_search_q_over_names_and_reason(world, api, queue):
    staff = api(world.staff)
    assert ids(staff.get(REQUESTS, {"q": "budget"})) == [queue["shop_rejected"]]
    assert ids(staff.get(REQUESTS, {"q": "hotel"})) == [queue["hotel"]]
    assert ids(staff.get(REQUESTS, {"q": "other"})) == [queue["office"]]  # partner/dist names
    assert set(ids(staff.get(REQUESTS, {"q": "SHOP"}))) == {
        queue["shop_rejected"],
        queue["shop_approved"],
    }
    assert ids(staff.get(REQUESTS, {"q": "shop budget"})) == [queue["shop_rejected"]]
    assert ids(staff.get(REQUESTS, {"q": "nowhere"})) == []
    # the distributor's search stays within its queue
    assert ids(api(world.dist_admin).get(REQUESTS, {"q": "office"})) == []


def test_queue_ordering(world, api, queue):
    client = api(world.dist_admin)
    by_years = [queue["hotel"], queue["shop_rejected"], queue["shop_approved"]]  # 1, 3, 5
    assert ids(client.get(REQUESTS, {"ordering": "years"})) == by_years
    assert ids(client.get(REQUESTS, {"ordering": "-years"})) == by_years[::-1]
    assert ids(client.get(REQUESTS, {"ordering": "created"})) == by_years
    assert_field_errors(client.get(REQUESTS, {"ordering": "reason"}), {"ordering"})


def test_queue_csv_has_header_and_one_line_per_row(world, api, queue):
    response = api(world.dist_admin).get(REQUESTS, {"format": "csv", "ordering": "years"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    text = b"".join(response.streaming_content).decode()
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == [
        "id",
        "location",
        "partner",
        "distributor",
        "years",
        "payment",
        "aps",
        "rooms",
        "modules",
        "state",
        "reason",
        "license",
        "created",
        "decided",
        "kind",
        "add_modules",
        "remove_modules",
        # after the JSON row's columns: the names, the key and the labels
        "location_name",
        "organization",
        "organization_name",
        "partner_name",
        "distributor_name",
        "license_key",
        "module_names",
        "state_label",
        "kind_label",
    ]
    records = [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]
    assert [int(record["id"]) for record in records] == [
        queue["hotel"],
        queue["shop_rejected"],
        queue["shop_approved"],
    ]
    assert [record["state"] for record in records] == ["pending", "rejected", "approved"]
    assert records[1]["reason"] == "Budget cut"
    assert records[0]["rooms"] == "10" and records[0]["aps"] == ""


def test_queue_csv_is_filtered_too(world, api, queue):
    response = api(world.dist_admin).get(REQUESTS, {"format": "csv", "state": "pending"})
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert len(lines) == 2
    assert lines[1].split(",")[0] == str(queue["hotel"])


def test_queue_csv_without_rows_still_has_the_header(world, api, queue):
    response = api(world.dist_admin).get(REQUESTS, {"format": "csv", "q": "nowhere"})
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("id,location,partner,distributor")


def test_queue_csv_defuses_formulas_in_the_reason(world, api):
    request = ask(world.partner_admin, world.shop, world.dist, aps=2)
    services.reject_request(world.dist_admin, request.pk, '=HYPERLINK("http://x","y")')
    response = api(world.dist_admin).get(REQUESTS, {"format": "csv"})
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert dict(zip(rows[0], rows[1], strict=True))["reason"] == '\'=HYPERLINK("http://x","y")'


# --- approve ------------------------------------------------------------------------------------


def test_approve_generates_license_with_the_request_terms(world, api, pending):
    response = approve(api, world.dist_admin, pending.pk)

    assert response.status_code == 201, response.content
    row = response.json()
    assert row["status"] == "pending_provision"
    assert KEY.match(row["key"]), row["key"]
    assert (row["license_type"], row["limit"]) == ("rooms", 20)
    assert (row["rooms"], row["aps"]) == (20, None)
    assert (row["years"], row["payment"]) == (2, "monthly")
    assert row["modules"] == ["guest", "pms"]  # the base module comes with every license
    assert (row["distributor"], row["partner"]) == (world.dist.pk, world.partner.pk)
    assert row["location"] == str(world.hotel.pk)
    assert row["organization"] is None  # set on Send Key
    assert (row["start_mode"], row["fixed_start"]) == ("automatic", None)
    assert row["timezone"] == "Europe/Madrid"
    assert (row["start_date"], row["end_date"], row["provisioned"]) == (None, None, None)

    license = License.objects.get(pk=row["id"])
    event = LicenseEvent.objects.get(license=license)
    assert event.kind == EventKind.CREATED
    assert event.actor == world.dist_admin
    assert event.after["request"] == pending.pk
    assert event.after["key"] == license.key
    assert event.after["modules"] == ["guest", "pms"]
    assert (event.after["limit"], event.after["license_type"]) == (20, "rooms")

    pending.refresh_from_db()
    assert pending.state == RequestState.APPROVED
    assert pending.license_id == license.pk
    assert pending.decided is not None
    shown = api(world.partner_viewer).get(f"{REQUESTS}{pending.pk}/").json()
    assert (shown["state"], shown["license"]) == ("approved", license.pk)


def test_approve_retail_request_gives_an_aps_license(world, api):
    request = ask(world.partner_admin, world.shop, world.dist, years=4, aps=9)
    response = approve(api, world.dist_admin, request.pk)
    assert response.status_code == 201, response.content
    row = response.json()
    assert (row["license_type"], row["limit"], row["aps"], row["rooms"]) == ("aps", 9, 9, None)
    assert row["modules"] == ["guest"]
    assert row["timezone"] == "Pacific/Auckland"


def test_approve_by_staff_works(world, api, pending):
    response = approve(api, world.staff, pending.pk)
    assert response.status_code == 201, response.content
    assert LicenseEvent.objects.get().actor == world.staff


def test_approve_twice_is_409(world, api, pending):
    assert approve(api, world.dist_admin, pending.pk).status_code == 201
    before = stored()
    assert_problem(approve(api, world.dist_admin, pending.pk), 409)
    assert stored() == before


def test_reject_approved_request_is_409(world, api, pending):
    assert approve(api, world.dist_admin, pending.pk).status_code == 201
    assert_problem(reject(api, world.dist_admin, pending.pk, {"reason": "Changed my mind"}), 409)
    pending.refresh_from_db()
    assert (pending.state, pending.reason) == (RequestState.APPROVED, "")


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("dist_viewer", 403),
        ("staff_viewer", 403),
        ("partner_admin", 403),  # sees its request, may not decide it
        ("partner_viewer", 403),
        ("org_admin", 403),
        ("gateway", 403),
        ("other_dist_admin", 404),  # not addressed to it: invisible
        ("other_partner_admin", 404),
        (None, 401),
    ],
)
def test_approve_refused(world, api, pending, who, status):
    before = stored()
    user = getattr(world, who) if who else None
    assert_problem(approve(api, user, pending.pk), status)
    assert stored() == before
    pending.refresh_from_db()
    assert pending.state == RequestState.PENDING


def test_approve_unknown_request_is_404(world, api):
    assert_problem(approve(api, world.dist_admin, 999_999), 404)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"start_mode": "fixed"}, "fixed_start"),
        ({"start_mode": "fixed", "fixed_start": None}, "fixed_start"),
        ({"start_mode": "fixed", "fixed_start": "2027-03-09"}, "fixed_start"),  # yesterday
        ({"start_mode": "automatic", "fixed_start": "2027-04-01"}, "fixed_start"),
        ({"fixed_start": "2027-04-01"}, "fixed_start"),  # automatic by default
        ({"start_mode": "fixed", "fixed_start": "1 April"}, "fixed_start"),
        ({"start_mode": "sometimes"}, "start_mode"),
    ],
)
def test_approve_with_invalid_start_is_400(world, api, pending, body, field):
    before = stored()
    with time_machine.travel(NOW, tick=False):
        response = approve(api, world.dist_admin, pending.pk, body)
    assert_field_errors(response, {field})
    assert stored() == before
    pending.refresh_from_db()
    assert pending.state == RequestState.PENDING


@pytest.mark.parametrize("start", ["2027-03-10", "2027-04-01"])  # today in Madrid, later
def test_approve_with_fixed_start_today_or_later_is_201(world, api, pending, start):
    with time_machine.travel(NOW, tick=False):
        response = approve(
            api, world.dist_admin, pending.pk, {"start_mode": "fixed", "fixed_start": start}
        )
    assert response.status_code == 201, response.content
    row = response.json()
    assert (row["start_mode"], row["fixed_start"]) == ("fixed", start)
    assert row["status"] == "pending_provision"
    assert LicenseEvent.objects.get().after["fixed_start"] == start


def test_approve_fixed_start_is_judged_in_the_location_time_zone(world, api):
    """At 12:00 UTC on 10 March it is already 11 March in Auckland (the shop)."""
    request = ask(world.partner_admin, world.shop, world.dist, aps=3)
    with time_machine.travel(NOW, tick=False):
        too_early = approve(
            api, world.dist_admin, request.pk, {"start_mode": "fixed", "fixed_start": "2027-03-10"}
        )
        assert_field_errors(too_early, {"fixed_start"})
        today = approve(
            api, world.dist_admin, request.pk, {"start_mode": "fixed", "fixed_start": "2027-03-11"}
        )
    assert today.status_code == 201, today.content


# --- reject -------------------------------------------------------------------------------------


@pytest.mark.parametrize("body", [{}, {"reason": ""}, {"reason": "   "}, {"reason": None}])
def test_reject_needs_a_reason(world, api, pending, body):
    assert_field_errors(reject(api, world.dist_admin, pending.pk, body), {"reason"})
    pending.refresh_from_db()
    assert (pending.state, pending.reason) == (RequestState.PENDING, "")


def test_reject_with_reason_marks_the_request_rejected(world, api, pending):
    response = reject(api, world.dist_admin, pending.pk, {"reason": "  Budget cut  "})
    assert response.status_code == 200, response.content
    row = response.json()
    assert (row["state"], row["reason"], row["license"]) == ("rejected", "Budget cut", None)
    assert row["decided"] is not None
    pending.refresh_from_db()
    assert (pending.state, pending.reason) == (RequestState.REJECTED, "Budget cut")
    assert stored()[1:] == (0, 0)  # no license, no event


def test_approve_rejected_request_is_409(world, api, pending):
    assert reject(api, world.dist_admin, pending.pk, {"reason": "No"}).status_code == 200
    assert_problem(approve(api, world.dist_admin, pending.pk), 409)
    assert_problem(reject(api, world.dist_admin, pending.pk, {"reason": "Again"}), 409)
    pending.refresh_from_db()
    assert (pending.state, pending.reason) == (RequestState.REJECTED, "No")
    assert License.objects.count() == 0


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("dist_viewer", 403),
        ("partner_admin", 403),
        ("org_admin", 403),
        ("other_dist_admin", 404),
        (None, 401),
    ],
)
def test_reject_refused(world, api, pending, who, status):
    user = getattr(world, who) if who else None
    assert_problem(reject(api, user, pending.pk, {"reason": "No"}), status)
    pending.refresh_from_db()
    assert pending.state == RequestState.PENDING


# --- direct license (POST /licenses/) ---------------------------------------------------


def test_direct_license_by_distributor_defaults_to_its_own(world, api):
    response = api(world.dist_admin).post(LICENSES, shop_terms(world, distributor=_DROP))
    assert response.status_code == 201, response.content
    row = response.json()
    assert row["distributor"] == world.dist.pk
    assert row["partner"] == world.partner.pk
    assert (row["license_type"], row["limit"], row["years"], row["payment"]) == (
        "aps",
        10,
        3,
        "monthly",
    )
    assert row["modules"] == ["guest"]
    assert row["status"] == "pending_provision"
    assert KEY.match(row["key"])
    event = LicenseEvent.objects.get(license_id=row["id"])
    assert event.kind == EventKind.CREATED
    assert "request" not in event.after
    assert LicenseRequest.objects.count() == 0  # no request behind it


def test_direct_license_by_distributor_naming_itself(world, api):
    response = api(world.dist_admin).post(LICENSES, hotel_terms(world))
    assert response.status_code == 201, response.content
    assert response.json()["modules"] == ["guest", "pms"]


def test_direct_license_with_fixed_start(world, api):
    with time_machine.travel(NOW, tick=False):
        response = api(world.dist_admin).post(
            LICENSES, hotel_terms(world, start_mode="fixed", fixed_start="2027-05-01")
        )
        past = api(world.dist_admin).post(
            LICENSES, hotel_terms(world, start_mode="fixed", fixed_start="2027-03-09")
        )
    assert response.status_code == 201, response.content
    assert response.json()["fixed_start"] == "2027-05-01"
    assert_field_errors(past, {"fixed_start"})


def test_direct_license_by_staff_must_name_a_distributor(world, api):
    before = stored()
    assert_field_errors(
        api(world.staff).post(LICENSES, hotel_terms(world, distributor=_DROP)), {"distributor"}
    )
    assert stored() == before
    response = api(world.staff).post(LICENSES, hotel_terms(world))
    assert response.status_code == 201, response.content
    assert response.json()["distributor"] == world.dist.pk


def test_direct_license_by_staff_refuses_distributor_the_partner_does_not_work_with(world, api):
    before = stored()
    response = api(world.staff).post(LICENSES, hotel_terms(world, distributor=world.other_dist.pk))
    assert_field_errors(response, {"distributor"})
    assert stored() == before


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("partner_admin", 403),
        ("partner_viewer", 403),
        ("org_admin", 403),  # names a distributor it can see: the service refuses
        ("org_viewer", 403),
        ("dist_viewer", 403),
        ("staff_viewer", 403),
        ("gateway", 403),
        (None, 401),
    ],
)
def test_direct_license_refused(world, api, who, status):
    before = stored()
    user = getattr(world, who) if who else None
    assert_problem(api(user).post(LICENSES, hotel_terms(world)), status)
    assert stored() == before


def test_direct_license_refuses_org_admin_whatever_the_body(world, api):
    before = stored()
    response = api(world.org_admin).post(LICENSES, hotel_terms(world, distributor=_DROP))
    assert_problem(response, 403)
    assert stored() == before


def test_request_refuses_dist_admin_whatever_the_body(world, api):
    before = stored()
    response = api(world.dist_admin).post(REQUESTS, hotel_terms(world, years=0))
    assert_problem(response, 403)
    assert stored() == before


def test_direct_license_other_distributor_cannot_name_a_location_of_a_partner_it_does_not_serve(
    world, api
):
    """A distributor sees the locations of organizations whose partner works with it:
    the hotel (partner works with ``dist`` only) is invisible to ``other_dist`` (400)."""
    before = stored()
    response = api(world.other_dist_admin).post(LICENSES, hotel_terms(world, distributor=_DROP))
    assert_field_errors(response, {"location"})
    assert stored() == before


def test_direct_license_distributor_cannot_name_a_location_of_a_partner_it_does_not_serve(
    world, api
):
    before = stored()
    response = api(world.dist_admin).post(
        LICENSES, shop_terms(world, location=str(world.other_office.pk), distributor=_DROP)
    )
    assert_field_errors(response, {"location"})
    assert stored() == before


def test_direct_license_distributor_cannot_sell_in_another_distributors_name(world, api):
    """``other_dist`` is invisible to ``dist``: 400 on ``distributor``, nothing made."""
    before = stored()
    response = api(world.dist_admin).post(
        LICENSES, hotel_terms(world, distributor=world.other_dist.pk)
    )
    assert_field_errors(response, {"distributor"})
    assert stored() == before


@pytest.mark.parametrize(
    ("place", "changes", "fields"),
    [
        ("shop", {"rooms": 5}, {"rooms"}),
        ("hotel", {"rooms": _DROP, "aps": 4}, {"rooms", "aps"}),
        ("hotel", {"years": 6}, {"years"}),
        ("hotel", {"payment": "weekly"}, {"payment"}),
        ("shop", {"aps": 1_000_001}, {"aps"}),
        ("shop", {"modules": ["nope"]}, {"modules"}),
    ],
    ids=lambda value: repr(value) if isinstance(value, dict) else None,
)
def test_direct_license_invalid_terms_are_400(world, api, place, changes, fields):
    before = stored()
    body = (hotel_terms if place == "hotel" else shop_terms)(world, **changes)
    assert_field_errors(api(world.dist_admin).post(LICENSES, body), fields)
    assert stored() == before
