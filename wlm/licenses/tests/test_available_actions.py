"""``lifecycle.available_actions``: the license view's buttons follow the transition table
for every status and every role (docs/lifecycle.md)."""

import datetime as dt

import pytest
import time_machine

from wlm.licenses import lifecycle
from wlm.licenses.models import LicenseStatus
from wlm.licenses.tests.test_lifecycle import make_license

pytestmark = pytest.mark.django_db

S = LicenseStatus
ACTIVE = {S.PENDING_START, S.IN_USE, S.ACCESS_DENIED}
# docs/lifecycle.md, written out again here on purpose: the test states the table
DISTRIBUTOR = {
    "upgrade": {S.PENDING_PROVISION, *ACTIVE},
    "renew": {S.IN_USE, S.ACCESS_DENIED, S.CONTRACT_FINALIZED},
    "deny": {S.PENDING_START, S.IN_USE},
    "restore": {S.ACCESS_DENIED},
    "cancel": {S.PENDING_PROVISION},
}
ORGANIZATION = {"assign": ACTIVE, "unassign": ACTIVE}
ORDER = ["upgrade", "renew", "deny", "restore", "cancel", "assign", "unassign"]


def expected(table: dict, status: str) -> list[str]:
    return [action for action in ORDER if status in table.get(action, ())]


@pytest.mark.parametrize("status", list(S.values))
@pytest.mark.parametrize(
    "person, table",
    [
        ("dist_admin", DISTRIBUTOR),
        ("org_admin", ORGANIZATION),
        ("staff", {**DISTRIBUTOR, **ORGANIZATION}),
    ],
)
@time_machine.travel(dt.datetime(2027, 3, 10, 12, tzinfo=dt.UTC), tick=False)
def test_admins_get_the_actions_their_tenant_may_take_in_each_status(world, person, table, status):
    license = make_license(
        world, status, before_denial=S.IN_USE if status == S.ACCESS_DENIED else ""
    )
    assert lifecycle.available_actions(license, getattr(world, person)) == expected(table, status)


@pytest.mark.parametrize("status", list(S.values))
@pytest.mark.parametrize(
    "person",
    [
        "dist_viewer",
        "org_viewer",
        "staff_viewer",
        "partner_admin",
        "partner_viewer",
        "other_dist_admin",
        "other_org_admin",
        "gateway",
    ],
)
def test_viewers_partners_and_other_tenants_get_no_action(world, person, status):
    license = make_license(world, status)
    assert lifecycle.available_actions(license, getattr(world, person)) == []


def test_no_user_gets_no_action(world):
    assert lifecycle.available_actions(make_license(world, S.IN_USE), None) == []


def test_an_offered_action_is_one_the_lifecycle_accepts(world):
    license = make_license(world, S.IN_USE)
    assert "deny" in lifecycle.available_actions(license, world.dist_admin)
    lifecycle.deny(world.dist_admin, license.pk, "unpaid")
    license.refresh_from_db()
    assert lifecycle.available_actions(license, world.dist_admin) == ["upgrade", "renew", "restore"]
