"""Requests for an existing license (API.md "License requests"; docs/lifecycle.md,
"Requests for an existing license"): the license's partner or organization asks its
distributor for a renewal or an upgrade, from every status (allowed, or refused and
why); the distributor approves it through the same lifecycle functions as its own
renewal and upgrade (the event names the request), re-checked against the license as it
is then, or rejects it with a reason. Who may ask, what a request must say, the rows the
database refuses whatever the code."""

import datetime as dt

import pytest
import time_machine
from django.db import IntegrityError, transaction

from wlm.audit.models import AuditEntry, Kind
from wlm.licenses import current, lifecycle, services
from wlm.licenses.models import (
    EventKind,
    License,
    LicenseEvent,
    LicenseRequest,
    LicenseStatus,
    Module,
    RequestKind,
    RequestState,
)
from wlm.licenses.tests.test_licenses_api import other_license
from wlm.licenses.tests.test_lifecycle import make_license
from wlm.locations import services as locations
from wlm.locations.models import Room

pytestmark = pytest.mark.django_db

S = LicenseStatus
REQUESTS = "/api/v1/license-requests/"
NOW = dt.datetime(2027, 3, 10, 12, tzinfo=dt.UTC)
CANCELLED = "cancelled"  # finalized before it was ever used: no end date
RENEWAL = {"kind": "renewal", "years": 2}
UPGRADE = {"kind": "upgrade", "rooms": 12, "add_modules": ["analytics"]}


@pytest.fixture(autouse=True)
def _frozen_clock():
    with time_machine.travel(NOW, tick=False):
        yield


def license_in(world, status: str) -> License:
    """A rooms license of ``world.dist`` for the hotel (limit 10, one room in use) in
    ``status``; ``CANCELLED``: cancelled before Send Key."""
    if status == CANCELLED:
        license = make_license(world, S.PENDING_PROVISION)
        return lifecycle.cancel(world.dist_admin, license.pk, "generated twice")
    if status == S.CONTRACT_FINALIZED:  # its two years ended in January 2026
        return make_license(world, status, start=dt.date(2024, 1, 15))
    if status == S.ACCESS_DENIED:
        return make_license(world, status, before_denial=S.IN_USE)
    return make_license(world, status)


def ask(api, user, license, body):
    return api(user).post(REQUESTS, {"license": license.pk, **body}, format="json")


def approve(api, user, request_id, body=None):
    return api(user).post(f"{REQUESTS}{request_id}/approve/", body or {}, format="json")


def stored() -> tuple:
    """The 'nothing changed' witness: the requests, the licenses' terms, the events."""
    return (
        list(LicenseRequest.objects.order_by("pk").values_list("pk", "kind", "state")),
        list(License.objects.order_by("pk").values_list("pk", "status", "end_date", "limit")),
        LicenseEvent.objects.count(),
    )


def assert_problem(response, status: int) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    return response.json()


def module_codes(license: License) -> list[str]:
    return sorted(license.modules.values_list("code", flat=True))


# --- every kind, every status --------------------------------------------------------

# None: the request is made and its approval applies it; else the refusal (409)
REFUSALS = {
    (S.PENDING_PROVISION, "renewal"): "Cannot renew a license that is Pending Provision.",
    (S.PENDING_START, "renewal"): "Cannot renew a license that is Pending Start.",
    (CANCELLED, "renewal"): (
        "Only a license that has started can be renewed; this one is Contract finalized."
    ),
    (S.CONTRACT_FINALIZED, "upgrade"): "Cannot upgrade a license that is Contract finalized.",
    (CANCELLED, "upgrade"): "Cannot upgrade a license that is Contract finalized.",
}
STATUSES = [*S.values, CANCELLED]


@pytest.mark.parametrize("kind", ["renewal", "upgrade"])
@pytest.mark.parametrize("status", STATUSES)
def test_every_kind_from_every_status(world, api, status, kind):
    """Asked by the license's partner (an organization sees its license from Send Key
    on): allowed where the distributor's own renewal or upgrade is, refused with the
    lifecycle's reason, nothing stored, where it is not."""
    license = license_in(world, status)
    body = RENEWAL if kind == "renewal" else UPGRADE
    refusal = REFUSALS.get((status, kind))
    before = stored()
    response = ask(api, world.partner_admin, license, body)
    if refusal:
        assert assert_problem(response, 409)["detail"] == refusal
        assert stored() == before
        return
    assert response.status_code == 201, response.content
    row = response.json()
    assert (row["kind"], row["license"], row["state"]) == (kind, license.pk, "pending")
    assert (row["partner"], row["distributor"]) == (world.partner.pk, world.dist.pk)
    assert row["location"] == str(license.location_id)
    assert stored()[1:] == before[1:]  # asking changes no license

    approved = approve(api, world.dist_admin, row["id"])
    assert approved.status_code == 200, approved.content  # an existing license: not 201
    assert approved.json()["id"] == license.pk
    old = license
    license = License.objects.get(pk=license.pk)
    event = license.events.latest("id")
    assert event.after["request"] == row["id"]  # the history names the request
    assert event.actor == world.dist_admin
    if kind == "renewal":
        assert event.kind == EventKind.RENEWED and event.after["years"] == 2
        if status == S.CONTRACT_FINALIZED:  # ended: a new term from today, in use again
            assert (license.status, license.start_date) == (S.IN_USE, dt.date(2027, 3, 10))
            assert license.end_date == dt.date(2029, 3, 10)
        else:  # before the end: the end date moves by two years, the status stays
            assert license.end_date == old.end_date.replace(year=old.end_date.year + 2)
            assert license.status == old.status
    else:
        assert event.kind == EventKind.UPGRADED
        assert (license.limit, license.status) == (12, old.status)
        assert "analytics" in module_codes(license)
        assert (event.before["limit"], event.after["limit"]) == (10, 12)
    request = LicenseRequest.objects.get(pk=row["id"])
    assert (request.state, request.license_id, request.decided) == ("approved", license.pk, NOW)


def test_the_organization_asks_once_its_key_is_sent(world, api):
    in_use = license_in(world, S.IN_USE)
    assert ask(api, world.org_admin, in_use, RENEWAL).status_code == 201
    # before Send Key the license is not the organization's to see: as a missing id
    unsent = license_in(world, S.PENDING_PROVISION)
    response = ask(api, world.org_admin, unsent, {"kind": "upgrade", "rooms": 20})
    assert set(assert_problem(response, 400)["errors"]) == {"license"}


# --- who asks --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("partner_admin", 201),
        ("org_admin", 201),
        ("staff", 201),
        ("partner_viewer", 403),
        ("org_viewer", 403),
        ("staff_viewer", 403),
        ("gateway", 403),
        # the distributor renews and upgrades itself, without asking
        ("dist_admin", 403),
        ("dist_viewer", 403),
        ("other_dist_admin", 403),
        # another distributor's partner, another partner's customer: no such license
        ("other_partner_admin", 400),
        ("other_org_admin", 400),
        (None, 401),
    ],
)
@pytest.mark.parametrize("body", [RENEWAL, UPGRADE], ids=["renewal", "upgrade"])
def test_who_may_ask(world, api, who, status, body):
    license = license_in(world, S.IN_USE)
    before = stored()
    response = ask(api, getattr(world, who) if who else None, license, body)
    if status == 201:
        assert response.status_code == 201, response.content
        assert LicenseRequest.objects.get().requested_by == getattr(world, who)
        return
    problem = assert_problem(response, status)
    if status == 400:
        assert set(problem["errors"]) == {"license"}
    assert stored() == before


def test_a_partner_of_another_distributor_cannot_ask_and_learns_nothing(world, api):
    """The other partner (of the other distributor) asks about our license: the same
    answer, word for word, as for an id that does not exist."""
    license = license_in(world, S.IN_USE)
    missing = License.objects.order_by("-pk").first().pk + 100
    client = api(world.other_partner_admin)
    hidden = client.post(REQUESTS, {"license": license.pk, **RENEWAL}, format="json")
    absent = client.post(REQUESTS, {"license": missing, **RENEWAL}, format="json")
    hidden_errors = assert_problem(hidden, 400)["errors"]["license"]
    absent_errors = assert_problem(absent, 400)["errors"]["license"]
    assert [e.replace(str(license.pk), "<id>") for e in hidden_errors] == [
        e.replace(str(missing), "<id>") for e in absent_errors
    ]
    # its own license it asks for, from its own distributor
    own = other_license(world)
    response = ask(api, world.other_partner_admin, own, RENEWAL)
    assert response.status_code == 201, response.content
    assert response.json()["distributor"] == world.other_dist.pk


def test_a_partner_sees_and_asks_for_the_licenses_it_sold(world, api):
    """A partner's customers' licenses are those it sold: the ``partner`` column is the
    scope (LicenseQuerySet). A license of its customer written with another partner, a
    state no service writes, is that partner's: the customer's partner learns nothing of
    it, as of a missing id, and the other partner may ask."""
    license = license_in(world, S.IN_USE)
    License.objects.filter(pk=license.pk).update(partner=world.other_partner)
    current.refresh([license.location_id])  # its stored copies, as after a service's change
    assert not License.objects.visible_to(world.partner_admin).filter(pk=license.pk).exists()
    before = stored()
    response = ask(api, world.partner_admin, license, RENEWAL)
    assert set(assert_problem(response, 400)["errors"]) == {"license"}
    assert stored() == before
    assert ask(api, world.other_partner_admin, license, RENEWAL).status_code == 201


def test_the_role_is_refused_before_the_body_is_read(world, api):
    """A distributor's malformed body is a 403 (it does not ask: it renews), not a 400."""
    response = api(world.dist_admin).post(
        REQUESTS, {"kind": "renewal", "license": "x", "years": 99}, format="json"
    )
    assert "partner or organization" in assert_problem(response, 403)["detail"]


# --- what a request must say -------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"kind": "renewal"}, {"years"}),
        ({"kind": "renewal", "years": 0}, {"years"}),
        ({"kind": "renewal", "years": 6}, {"years"}),
        ({"kind": "renewal", "years": 1, "rooms": 20}, {"rooms"}),
        ({"kind": "renewal", "years": 1, "payment": "annual"}, set()),  # not a field: ignored
        ({"kind": "renewal", "years": 1, "add_modules": ["pms"]}, {"add_modules"}),
        ({"kind": "upgrade", "years": 1, "rooms": 20}, {"years"}),
        ({"kind": "upgrade", "aps": 20}, {"aps"}),  # a rooms license
        ({"kind": "upgrade", "rooms": 0}, {"rooms"}),
        ({"kind": "upgrade", "add_modules": ["roaming"]}, {"add_modules"}),
        ({"kind": "upgrade"}, {"non_field_errors"}),  # nothing to change
        ({"kind": "upgrade", "rooms": 10}, {"non_field_errors"}),  # the limit it has
        ({"kind": "upgrade", "add_modules": ["pms"], "remove_modules": ["pms"]}, {"add_modules"}),
        ({"kind": "bogus", "years": 1}, {"kind"}),  # neither a change nor a new license
    ],
)
def test_a_request_says_what_its_kind_takes(world, api, body, fields):
    license = license_in(world, S.IN_USE)
    before = stored()
    response = ask(api, world.partner_admin, license, body)
    if not fields:
        assert response.status_code == 201, response.content
        assert response.json()["payment"] == ""
        return
    if body["kind"] == "bogus":  # a new license's body: the partner's other fields missing
        assert fields <= set(assert_problem(response, 400)["errors"])
    else:
        assert set(assert_problem(response, 400)["errors"]) == fields
    assert stored() == before


def test_a_limit_below_what_is_in_use_is_refused_when_asked(world, api):
    license = license_in(world, S.IN_USE)
    Room.objects.bulk_create(Room(location=world.hotel, number=f"2{i:02d}") for i in range(4))
    response = ask(api, world.partner_admin, license, {"kind": "upgrade", "rooms": 3})
    detail = assert_problem(response, 409)["detail"]
    assert detail == f"License {license.key} allows 3 rooms; 5 would be in use."


def test_one_pending_renewal_and_one_pending_upgrade_per_license(world, api):
    license = license_in(world, S.IN_USE)
    first = ask(api, world.partner_admin, license, RENEWAL).json()
    before = stored()
    again = ask(api, world.org_admin, license, {"kind": "renewal", "years": 1})
    assert assert_problem(again, 409)["detail"] == (
        f"A renewal of this license is already requested (request {first['id']}): "
        "Dist decides on it first."
    )
    assert stored() == before
    # an upgrade is another request, and may wait beside it
    assert ask(api, world.org_admin, license, UPGRADE).status_code == 201
    assert_problem(ask(api, world.partner_admin, license, {"kind": "upgrade", "rooms": 11}), 409)
    # once decided, a renewal may be asked for again
    services.reject_request(world.dist_admin, first["id"], "Not before the end of the year.")
    assert ask(api, world.partner_admin, license, RENEWAL).status_code == 201


def test_a_new_license_request_is_as_before_and_may_say_its_kind(world, api):
    body = {
        "location": str(world.shop.pk),
        "distributor": world.dist.pk,
        "years": 1,
        "payment": "annual",
        "aps": 4,
    }
    for sent in (body, {**body, "kind": "new"}):
        response = api(world.partner_admin).post(REQUESTS, sent, format="json")
        assert response.status_code == 201, response.content
        row = response.json()
        assert (row["kind"], row["license"], row["add_modules"]) == ("new", None, [])
    # a change's body without its kind is a request for a new license: its fields missing
    response = ask(api, world.partner_admin, license_in(world, S.IN_USE), {"years": 1})
    assert {"location", "payment"} <= set(assert_problem(response, 400)["errors"])


def test_asking_is_audited_and_the_organization_reads_the_request(world, api):
    license = license_in(world, S.IN_USE)
    row = ask(api, world.partner_admin, license, UPGRADE).json()
    entry = AuditEntry.objects.get(kind=Kind.REQUEST_CREATED)
    assert (entry.object_id, entry.actor_id) == (str(row["id"]), world.partner_admin.pk)
    assert entry.after == {"kind": "upgrade", "license": license.pk}
    assert (entry.distributor_id, entry.partner_id, entry.organization_id) == (
        world.dist.pk,
        world.partner.pk,
        world.org.pk,
    )
    assert row["add_modules"] == ["analytics"] and row["rooms"] == 12
    for who in ("org_viewer", "partner_viewer", "dist_viewer", "staff_viewer"):
        read = api(getattr(world, who)).get(f"{REQUESTS}{row['id']}/")
        assert read.status_code == 200 and read.json()["kind"] == "upgrade", who
    for who in ("other_org_admin", "other_partner_admin", "other_dist_admin"):
        assert api(getattr(world, who)).get(f"{REQUESTS}{row['id']}/").status_code == 404, who


def test_the_queue_filters_by_kind_and_license(world, api):
    license = license_in(world, S.IN_USE)
    renewal = ask(api, world.partner_admin, license, RENEWAL).json()["id"]
    upgrade = ask(api, world.partner_admin, license, UPGRADE).json()["id"]
    new = services.create_request(
        world.partner_admin,
        services.Terms(
            location=world.shop, distributor=world.dist, years=1, payment="annual", aps=2
        ),
    ).pk
    client = api(world.dist_admin)

    def ids(**query):
        response = client.get(REQUESTS, query)
        assert response.status_code == 200, response.content
        return sorted(row["id"] for row in response.json()["results"])

    assert ids(kind="renewal") == [renewal]
    assert ids(kind=["renewal", "upgrade"]) == sorted([renewal, upgrade])
    assert ids(kind="new") == [new]
    assert ids(license=license.pk) == sorted([renewal, upgrade])
    assert_problem(client.get(REQUESTS, {"kind": "other"}), 400)
    # another tenant's license is no filter value: as a missing id
    hidden = other_license(world)
    assert_problem(api(world.partner_admin).get(REQUESTS, {"license": hidden.pk}), 400)


def test_the_csv_writes_an_upgrades_modules_as_its_json_row(world, api):
    """Three to-many columns (a new license's modules, an upgrade's to add and to
    remove) read through joins and folded back into one line per request."""
    import csv
    import io

    license = license_in(world, S.IN_USE)
    license.modules.add(Module.objects.get(code="pms"), Module.objects.get(code="guest"))
    body = {
        "kind": "upgrade",
        "add_modules": ["analytics", "business"],
        "remove_modules": ["pms", "guest"],
    }
    row = ask(api, world.partner_admin, license, body).json()
    client = api(world.partner_admin)
    response = client.get(REQUESTS, {"format": "csv"})
    assert response.status_code == 200
    lines = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    [line] = [line for line in lines if line["id"] == str(row["id"])]
    assert line["add_modules"] == ";".join(row["add_modules"]) == "analytics;business"
    assert line["remove_modules"] == ";".join(row["remove_modules"]) == "guest;pms"
    assert (line["kind"], line["kind_label"], line["license"]) == (
        "upgrade",
        "Upgrade",
        str(license.pk),
    )
    assert (line["license_key"], line["years"], line["payment"]) == (license.key, "", "")


# --- approval, rejection ------------------------------------------------------------------


def test_approving_a_renewal_is_the_distributors_renewal_naming_the_request(world, api, client):
    license = license_in(world, S.IN_USE)
    end = license.end_date
    row = ask(api, world.org_admin, license, RENEWAL).json()
    response = approve(api, world.dist_admin, row["id"])
    assert response.status_code == 200, response.content
    assert response.json()["end_date"] == end.replace(year=end.year + 2).isoformat()
    entries = AuditEntry.objects.filter(object_id__in=[str(row["id"]), str(license.pk)])
    assert set(entries.values_list("kind", flat=True)) >= {
        Kind.REQUEST_CREATED,
        Kind.REQUEST_APPROVED,
        Kind.LICENSE_RENEWED,
    }
    approved = AuditEntry.objects.get(kind=Kind.REQUEST_APPROVED)
    assert approved.after == {"state": "approved", "license": license.pk}
    # the Upgrades tab names the request, as a person reads it
    client.force_login(world.org_admin)
    page = client.get(f"/licenses/{license.pk}/", {"tab": "upgrades"}).content.decode()
    assert "Renewed by" in page and "from Partner on" in page


def test_approving_an_upgrade_applies_its_limit_and_modules(world, api):
    license = license_in(world, S.IN_USE)
    license.modules.add(Module.objects.get(code="pms"))
    body = {"kind": "upgrade", "rooms": 15, "add_modules": ["analytics"], "remove_modules": ["pms"]}
    row = ask(api, world.partner_admin, license, body).json()
    assert (row["add_modules"], row["remove_modules"]) == (["analytics"], ["pms"])
    assert approve(api, world.dist_admin, row["id"]).status_code == 200
    license.refresh_from_db()
    assert license.limit == 15
    assert "analytics" in module_codes(license) and "pms" not in module_codes(license)
    event = license.events.get(kind=EventKind.UPGRADED)
    assert event.after["request"] == row["id"]
    assert "pms" in event.before["modules"] and "pms" not in event.after["modules"]


def test_approving_a_change_takes_no_start(world, api):
    license = license_in(world, S.IN_USE)
    row = ask(api, world.partner_admin, license, RENEWAL).json()
    before = stored()
    response = approve(api, world.dist_admin, row["id"], {"start_mode": "fixed"})
    assert set(assert_problem(response, 400)["errors"]) == {"start_mode"}
    assert stored() == before


@pytest.mark.parametrize("who", ["partner_admin", "org_admin", "dist_viewer", "other_dist_admin"])
def test_only_the_licenses_distributor_decides(world, api, who):
    license = license_in(world, S.IN_USE)
    row = ask(api, world.partner_admin, license, RENEWAL).json()
    before = stored()
    response = approve(api, getattr(world, who), row["id"])
    assert response.status_code == (404 if who == "other_dist_admin" else 403)
    assert stored() == before
    assert approve(api, world.staff, row["id"]).status_code == 200  # and staff


def test_rejecting_a_change_needs_a_reason_and_leaves_the_license(world, api):
    license = license_in(world, S.IN_USE)
    row = ask(api, world.partner_admin, license, UPGRADE).json()
    before = stored()
    url = f"{REQUESTS}{row['id']}/reject/"
    for reason in ("", "   "):
        response = api(world.dist_admin).post(url, {"reason": reason}, format="json")
        assert set(assert_problem(response, 400)["errors"]) == {"reason"}
    assert stored() == before
    rejected = api(world.dist_admin).post(url, {"reason": "Analytics is sold out."}, format="json")
    assert rejected.status_code == 200, rejected.content
    assert (rejected.json()["state"], rejected.json()["reason"]) == (
        "rejected",
        "Analytics is sold out.",
    )
    assert stored()[1:] == before[1:]
    # decided: final
    assert (
        "already rejected"
        in assert_problem(approve(api, world.dist_admin, row["id"]), 409)["detail"]
    )


# --- the license changed meanwhile: checked again when approved ---------------------------


def test_an_upgrade_below_the_rooms_added_since_is_refused_at_approval(world, api):
    license = license_in(world, S.IN_USE)
    row = ask(api, world.partner_admin, license, {"kind": "upgrade", "rooms": 3}).json()
    for number in ("201", "202", "203"):  # the hotel's rooms grow to 4 meanwhile
        locations.add_room(world.org_admin, world.hotel, number=number)
    before = stored()
    detail = assert_problem(approve(api, world.dist_admin, row["id"]), 409)["detail"]
    assert detail == (
        f"The license no longer allows this request: License {license.key} allows 3 rooms; "
        "4 would be in use."
    )
    assert stored() == before  # still pending, the license as it was


def test_an_upgrade_of_a_license_that_ended_meanwhile_is_refused_at_approval(world, api):
    license = license_in(world, S.IN_USE)  # ends 15 January 2028
    row = ask(api, world.partner_admin, license, UPGRADE).json()
    with time_machine.travel(dt.datetime(2028, 1, 16, 12, tzinfo=dt.UTC), tick=False):
        lifecycle.cut_off(license.pk)
        before = stored()
        detail = assert_problem(approve(api, world.dist_admin, row["id"]), 409)["detail"]
    assert detail == (
        "The license no longer allows this request: "
        "Cannot upgrade a license that is Contract finalized."
    )
    assert stored() == before


def test_modules_added_meanwhile_leave_the_upgrade_nothing_to_change(world, api):
    license = license_in(world, S.IN_USE)
    row = ask(api, world.partner_admin, license, {"kind": "upgrade", "add_modules": ["pms"]})
    services.upgrade_license(
        world.dist_admin, license, add_modules=[Module.objects.get(code="pms")]
    )
    before = stored()
    detail = assert_problem(approve(api, world.dist_admin, row.json()["id"]), 409)["detail"]
    assert detail == "The license no longer allows this request: Nothing to change."
    assert stored() == before


def test_a_renewal_of_a_license_whose_rooms_grew_while_finalized_is_refused(world, api):
    """Finalized, the license limited nothing and the hotel grew: renewing it would hold
    more rooms than it allows (the renewal's own rule, checked again at approval)."""
    license = license_in(world, S.CONTRACT_FINALIZED)
    row = ask(api, world.org_admin, license, RENEWAL).json()
    Room.objects.bulk_create(Room(location=world.hotel, number=f"5{i:02d}") for i in range(10))
    before = stored()
    detail = assert_problem(approve(api, world.dist_admin, row["id"]), 409)["detail"]
    assert detail.startswith("The license no longer allows this request: The locations hold 11")
    assert stored() == before


# --- the database refuses what the rules refuse -------------------------------------------


def _row(world, target, **fields) -> LicenseRequest:
    """A request row written past the services (``fields`` may replace its license)."""
    base = {
        "location": world.hotel,
        "partner": world.partner,
        "distributor": world.dist,
        "license": target,
    }
    return LicenseRequest(**{**base, **fields})


@pytest.mark.parametrize(
    "fields",
    [
        {"kind": "renewal", "years": 2, "license": None},
        {"kind": "renewal", "years": 0},
        {"kind": "renewal", "years": None},
        {"kind": "renewal", "years": 2, "rooms": 20},
        {"kind": "renewal", "years": 2, "payment": "annual"},
        {"kind": "upgrade", "years": 1, "rooms": 20},
        {"kind": "upgrade", "rooms": 20, "license": None},
        {"kind": "upgrade", "rooms": 20, "aps": 3},
        {"kind": "new", "years": 1, "payment": "annual", "rooms": 5},  # pending with a license
        {"kind": "new", "years": None, "payment": "annual", "rooms": 5, "license": None},
        {"kind": "other", "years": 1},
    ],
    ids=str,
)
def test_the_database_refuses_a_row_of_the_wrong_shape(world, fields):
    license = license_in(world, S.IN_USE)
    with pytest.raises(IntegrityError), transaction.atomic():
        _row(world, license, **fields).save()


def test_the_database_keeps_one_pending_change_of_each_kind(world):
    license = license_in(world, S.IN_USE)
    _row(world, license, kind="renewal", years=1).save()
    with pytest.raises(IntegrityError), transaction.atomic():
        _row(world, license, kind="renewal", years=2).save()
    _row(world, license, kind="upgrade", rooms=20).save()  # another kind
    _row(world, license, kind="renewal", years=2, state="rejected").save()  # decided ones
    _row(world, license, kind="renewal", years=2, state="approved").save()
    assert LicenseRequest.objects.filter(license=license).count() == 4


def test_the_database_keeps_one_request_per_generated_license(world):
    shop = services.Terms(
        location=world.shop, distributor=world.dist, years=1, payment="annual", aps=3
    )
    request = services.create_request(world.partner_admin, shop)
    license = services.approve_request(world.dist_admin, request.pk)
    twin = _row(world, license, kind="new", years=1, payment="annual", aps=3, state="approved")
    with pytest.raises(IntegrityError), transaction.atomic():
        twin.save()
    assert list(license.requests.values_list("kind", flat=True)) == [RequestKind.NEW]
    assert LicenseRequest.objects.get(pk=request.pk).state == RequestState.APPROVED
