"""Write rights behind one door: which licenses a tenant may change is
``License.objects.managed_by`` (never the read filter), which changes its role may make
is the lifecycle's table, and who decides requests and keeps the catalogue is
``managed_by`` of those rows. The services enforce it; the pages' buttons and the API's
403s ask the same functions, so a button is never refused and a refusal never comes
after the body was judged (docs/tenancy.md, docs/api.md)."""

import pytest
from django.core.exceptions import PermissionDenied

from wlm.licenses import current, lifecycle, services
from wlm.licenses.models import License, LicenseRequest, Module, RequestState
from wlm.licenses.models import LicenseStatus as S
from wlm.licenses.tests.test_lifecycle import make_license
from wlm.tenancy.models import Distributor, Partner

pytestmark = pytest.mark.django_db

PEOPLE = [
    "staff",
    "staff_viewer",
    "gateway",
    "dist_admin",
    "dist_viewer",
    "other_dist_admin",
    "partner_admin",
    "partner_viewer",
    "other_partner_admin",
    "org_admin",
    "org_viewer",
    "other_org_admin",
]


def other_license(world):
    """An in-use license of ``other_dist`` at ``other_org``'s office."""
    license = make_license(world, S.IN_USE)
    License.objects.filter(pk=license.pk).update(
        distributor=world.other_dist,
        partner=world.other_partner,
        organization=world.other_org,
        location=world.other_office,
    )
    license.assignments.update(location=world.other_office)
    current.refresh([world.hotel, world.other_office])  # test data moved past the services
    return license


def _before_denial(status):
    return S.IN_USE if status == S.ACCESS_DENIED else ""


@pytest.fixture
def licenses(world):
    """Unsent (pending provision, made for the hotel), in use, and another tenant's."""
    return {
        "unsent": make_license(world, S.PENDING_PROVISION),
        "in_use": make_license(world, S.IN_USE),
        "other": other_license(world),
    }


MANAGED = {
    "staff": {"unsent", "in_use", "other"},
    "dist_admin": {"unsent", "in_use"},
    "other_dist_admin": {"other"},
    # an organization changes the licenses made for its locations, the unsent one too
    # (Send Key takes its key) although it does not see it yet
    "org_admin": {"unsent", "in_use"},
    "other_org_admin": {"other"},
    # a partner sells licenses and sees them, but changes none
    "partner_admin": set(),
    "other_partner_admin": set(),
}


@pytest.mark.parametrize("person", PEOPLE)
def test_managed_by_is_the_write_filter_not_the_read_filter(world, licenses, person):
    ids = {pk: name for name, pk in ((n, lic.pk) for n, lic in licenses.items())}
    managed = License.objects.managed_by(getattr(world, person)).values_list("pk", flat=True)
    assert {ids[pk] for pk in managed} == MANAGED.get(person, set())


@pytest.mark.parametrize("status", list(S.values))
@pytest.mark.parametrize("person", PEOPLE)
def test_an_offered_action_is_on_a_license_the_user_manages(world, person, status):
    """The license view's buttons: the table for the role, ``managed_by`` for the row."""
    user = getattr(world, person)
    license = make_license(world, status, before_denial=_before_denial(status))
    offered = lifecycle.available_actions(license, user)
    if offered:
        assert License.objects.managed_by(user).filter(pk=license.pk).exists()
    assert offered == [action for action in offered if lifecycle.may(user, action)]


# --- The services refuse what the door refuses ------------------------------------------


@pytest.mark.parametrize("decide", ["approve", "reject"])
def test_read_only_staff_cannot_decide_a_request(world, pending, decide):
    """Staff viewers read every request; deciding is for staff admins, as on the page."""
    with pytest.raises(PermissionDenied):
        if decide == "approve":
            services.approve_request(world.staff_viewer, pending.pk)
        else:
            services.reject_request(world.staff_viewer, pending.pk, "no")
    pending.refresh_from_db()
    assert pending.state == RequestState.PENDING
    assert not LicenseRequest.objects.managed_by(world.staff_viewer).exists()


def test_read_only_staff_cannot_keep_the_catalogue(world):
    with pytest.raises(PermissionDenied):
        services.create_module(world.staff_viewer, code="roaming", name="Roaming")
    guest = Module.objects.get(code="guest")
    with pytest.raises(PermissionDenied):
        services.update_module(world.staff_viewer, guest, name="Guests")
    guest.refresh_from_db()
    assert guest.name != "Guests"
    assert not Module.objects.filter(code="roaming").exists()


@pytest.mark.parametrize(
    "person, rights",
    [
        ("staff", {"request", "decide", "generate"}),
        ("staff_viewer", set()),
        ("gateway", set()),
        ("dist_admin", {"decide", "generate"}),
        ("dist_viewer", set()),
        ("partner_admin", {"request"}),
        ("partner_viewer", set()),
        ("org_admin", set()),
        ("org_viewer", set()),
    ],
)
def test_who_requests_decides_and_generates(world, person, rights):
    """Each right is ``managed_by`` of the rows it is exercised on: a request is made in
    its partner's name, decided by its distributor, and a license is generated in a
    distributor's name."""
    user = getattr(world, person)
    asked = {
        "request": services.may_request(user),
        "decide": services.may_decide(user),
        "generate": services.may_generate(user),
    }
    assert {right for right, yes in asked.items() if yes} == rights
    assert asked["request"] == Partner.objects.managed_by(user).filter(pk=world.partner.pk).exists()
    assert (
        asked["generate"] == Distributor.objects.managed_by(user).filter(pk=world.dist.pk).exists()
    )


# --- The API refuses a role before it reads the body, as the page refuses its form ----


def _license_action(client, action, license, body):
    path = "assignments" if action == "assign" else action
    return client.post(f"/api/v1/licenses/{license.pk}/{path}/", body, format="json")


@pytest.mark.parametrize(
    "person, action, status, body",
    [
        # the organization sees its license but may not change its terms or status
        ("org_admin", "deny", S.IN_USE, {}),
        ("org_admin", "renew", S.IN_USE, {"years": 9}),
        ("org_admin", "upgrade", S.IN_USE, {"rooms": 0}),
        ("org_admin", "restore", S.ACCESS_DENIED, {"reason": ["not", "text"]}),
        # the distributor sees its license but does not choose the customer's locations
        ("dist_admin", "assign", S.IN_USE, {}),
    ],
)
def test_a_license_change_the_role_may_not_make_is_403_whatever_the_body(
    world, api, client, person, action, status, body
):
    user = getattr(world, person)
    license = make_license(world, status, before_denial=_before_denial(status))
    assert action not in lifecycle.available_actions(license, user)  # no button on the page
    client.force_login(user)
    assert client.get(f"/licenses/{license.pk}/{action}/").status_code == 403  # nor its form
    response = _license_action(api(user), action, license, body)
    assert response.status_code == 403, response.content
    license.refresh_from_db()
    assert license.status == status


@pytest.mark.parametrize(
    "decide, body", [("approve", {"start_mode": "someday"}), ("reject", {"reason": ""})]
)
def test_deciding_a_request_one_may_not_decide_is_403_whatever_the_body(
    world, api, client, pending, decide, body
):
    """The partner sees its request (no Approve button on its page, 403 on the form) and
    gets the same 403 from the API before its body is judged."""
    client.force_login(world.partner_admin)
    assert client.get(f"/requests/{pending.pk}/{decide}/").status_code == 403
    response = api(world.partner_admin).post(
        f"/api/v1/license-requests/{pending.pk}/{decide}/", body, format="json"
    )
    assert response.status_code == 403, response.content
    pending.refresh_from_db()
    assert pending.state == RequestState.PENDING
