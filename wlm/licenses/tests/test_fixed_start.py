"""Start mode ``fixed``: the term starts on the distributor's date, not with devices."""

import datetime as dt

import pytest
import time_machine

from wlm.licenses import lifecycle, services
from wlm.licenses.models import EventKind, LicenseStatus, StartMode

pytestmark = pytest.mark.django_db

S = LicenseStatus


def _fixed_license(world, location, on: dt.date):
    terms = services.Terms(
        location=location, distributor=world.dist, years=1, payment="annual", aps=5
    )
    return services.create_license(
        world.dist_admin, terms, start_mode=StartMode.FIXED, fixed_start=on
    )


def test_fixed_start_waits_for_its_date_in_the_license_zone(world):
    # The shop is in Pacific/Auckland (UTC+13 in January): 1 March starts there at
    # 28 February 11:00 UTC.
    with time_machine.travel(dt.datetime(2027, 1, 10, tzinfo=dt.UTC), tick=False):
        license = _fixed_license(world, world.shop, dt.date(2027, 3, 1))
        lifecycle.provision(world.org_admin, world.shop, license.key)
    with time_machine.travel(dt.datetime(2027, 2, 28, 10, 59, tzinfo=dt.UTC), tick=False):
        assert lifecycle.start_fixed_due() == []
    with time_machine.travel(dt.datetime(2027, 2, 28, 11, 0, tzinfo=dt.UTC), tick=False):
        assert lifecycle.start_fixed_due() == [license.pk]
        assert lifecycle.start_fixed_due() == []  # safe to run twice
    license.refresh_from_db()
    assert license.status == S.IN_USE
    assert license.start_date == dt.date(2027, 3, 1)
    assert license.end_date == dt.date(2028, 3, 1)
    assert license.events.filter(kind=EventKind.STARTED, actor=None).count() == 1


def test_fixed_start_applied_late_keeps_the_fixed_date(world):
    with time_machine.travel(dt.datetime(2027, 1, 10, tzinfo=dt.UTC), tick=False):
        license = _fixed_license(world, world.shop, dt.date(2027, 2, 1))
        lifecycle.provision(world.org_admin, world.shop, license.key)
    with time_machine.travel(dt.datetime(2027, 5, 1, tzinfo=dt.UTC), tick=False):
        lifecycle.start_fixed_due()
    license.refresh_from_db()
    assert (license.start_date, license.end_date) == (dt.date(2027, 2, 1), dt.date(2028, 2, 1))


def test_send_key_after_the_fixed_date_starts_at_once(world):
    with time_machine.travel(dt.datetime(2027, 1, 10, tzinfo=dt.UTC), tick=False):
        license = _fixed_license(world, world.shop, dt.date(2027, 1, 20))
    with time_machine.travel(dt.datetime(2027, 2, 1, tzinfo=dt.UTC), tick=False):
        lifecycle.provision(world.org_admin, world.shop, license.key)
    license.refresh_from_db()
    assert license.status == S.IN_USE
    assert license.start_date == dt.date(2027, 1, 20)
    kinds = list(license.events.values_list("kind", flat=True))
    assert kinds == [EventKind.CREATED, EventKind.PROVISIONED, EventKind.STARTED]


def test_pending_provision_and_automatic_licenses_are_not_started_by_date(world):
    with time_machine.travel(dt.datetime(2027, 1, 10, tzinfo=dt.UTC), tick=False):
        unused = _fixed_license(world, world.shop, dt.date(2027, 1, 20))
        automatic = services.create_license(
            world.dist_admin,
            services.Terms(
                location=world.hotel, distributor=world.dist, years=1, payment="annual", rooms=5
            ),
        )
        lifecycle.provision(world.org_admin, world.hotel, automatic.key)
    with time_machine.travel(dt.datetime(2027, 6, 1, tzinfo=dt.UTC), tick=False):
        assert lifecycle.start_fixed_due() == []
    unused.refresh_from_db()
    automatic.refresh_from_db()
    assert unused.status == S.PENDING_PROVISION
    assert automatic.status == S.PENDING_START
