"""Two admins demote each other at once, or two deactivations of a tenant's two admins:
the tenant's memberships are locked (``services._lock_tenant``), the second counts what
the first left, and the tenant keeps one active admin. PostgreSQL only (row locks)."""

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection

from wlm.conftest import make_user
from wlm.tenancy import services
from wlm.tenancy.models import Membership, Role, TenantType
from wlm.tests.races import race

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks: PostgreSQL"),
    pytest.mark.postgres_only,
]


def demote(by_pk, person_pk):
    """In the thread, as a request would: the users read afresh."""
    users = get_user_model().objects.select_related("membership")
    return services.change_role(users.get(pk=by_pk), users.get(pk=person_pk), Role.VIEWER)


def test_two_admins_demoting_each_other_at_once_leave_one(world):
    second = make_user("org_admin_2", TenantType.ORGANIZATION, world.org)
    outcomes = race(demote, [(world.org_admin.pk, second.pk), (second.pk, world.org_admin.pk)])
    # the second to act is refused: as the last admin's demotion (it had passed the
    # rights check before the first committed), or as no admin any more (it had not)
    refused = [o for o in outcomes if isinstance(o, ValidationError | PermissionDenied)]
    assert len(refused) == 1, outcomes
    admins = Membership.objects.filter(organization=world.org, role=Role.ADMIN)
    assert admins.count() == 1


def test_a_demotion_and_a_deactivation_at_once_leave_one(world):
    second = make_user("org_admin_2", TenantType.ORGANIZATION, world.org)
    outcomes = race(
        lambda action, person: action(world.partner_admin, person),
        [
            (lambda by, person: services.change_role(by, person, Role.VIEWER), second),
            (services.deactivate_user, world.org_admin),
        ],
    )
    refused = [o for o in outcomes if isinstance(o, ValidationError)]
    assert len(refused) == 1, outcomes
    assert "last active administrator" in refused[0].messages[0]
    active_admins = Membership.objects.filter(
        organization=world.org, role=Role.ADMIN, user__is_active=True
    )
    assert active_admins.count() == 1
    assert get_user_model().objects.filter(pk__in=[second.pk, world.org_admin.pk]).count() == 2
