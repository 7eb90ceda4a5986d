"""What only the platform operator writes is refused to its read-only staff in the
services themselves, not only by the API's permission class (a management command or a
page calling the service must not let a viewer through)."""

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied

from wlm.tenancy import services
from wlm.tenancy.models import Distributor, Partner, TenantType

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "write",
    [
        lambda world, user: services.create_distributor(user, name="New", email="n@x.com"),
        lambda world, user: services.create_partner(
            user, distributors=[world.dist], name="New", email="n@x.com"
        ),
        lambda world, user: services.update_tenant(
            user, world.partner, distributors=[world.dist, world.other_dist]
        ),
        lambda world, user: services.create_user(
            user,
            username="newstaff",
            email="s@x.com",
            password="a-long-enough-password-1",
            tenant_type=TenantType.STAFF,
            tenant_id=None,
            role="admin",
        ),
    ],
    ids=["create distributor", "create partner", "partner's distributors", "staff user"],
)
def test_read_only_staff_cannot_make_the_operators_writes(world, write):
    before = (
        Distributor.objects.count(),
        Partner.objects.count(),
        get_user_model().objects.count(),
        sorted(world.partner.distributors.values_list("pk", flat=True)),
    )
    with pytest.raises(PermissionDenied):
        write(world, world.staff_viewer)
    after = (
        Distributor.objects.count(),
        Partner.objects.count(),
        get_user_model().objects.count(),
        sorted(world.partner.distributors.values_list("pk", flat=True)),
    )
    assert after == before
    write(world, world.staff)  # the operator's admin may
