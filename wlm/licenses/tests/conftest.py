"""Helpers and fixtures shared by the license tests."""

import pytest

from wlm.licenses import services
from wlm.licenses.models import Module


def ask(user, location, distributor, *, years=1, payment="annual", modules=(), **limit):
    """A request made through the service (the queue's fixtures)."""
    return services.create_request(
        user,
        services.Terms(
            location=location,
            distributor=distributor,
            years=years,
            payment=payment,
            modules=tuple(modules),
            **limit,
        ),
    )


@pytest.fixture
def pending(world):
    """A pending request of the partner for the hotel, addressed to ``dist``."""
    return ask(
        world.partner_admin,
        world.hotel,
        world.dist,
        years=2,
        payment="monthly",
        rooms=20,
        modules=Module.objects.filter(code="pms"),
    )
