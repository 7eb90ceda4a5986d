"""The database of the several-nodes test (wlm/tests/test_nodes.py), made by a process of
its own: ``python -m wlm.tests.nodes_seed LICENSES`` migrates the empty database that
DATABASE_URL names and writes what the test needs, then prints it as JSON.

- a distributor, a partner and an organization with notice e-mails; their admins, and a
  gateway user of the data plane;
- the Hotel, with a license in use for a year (denied and restored through the nodes);
- the Café, without a license (Send Key attempts with a key that does not exist);
- ``LICENSES`` shops, each with a license in use that ends in 20 days: its first notice
  (a month before the end) is due now, its second one (15 days before) not yet. The
  nodes' clocks cannot be moved, so the dates are relative to the real now;
- an empty change log (below).
"""

import datetime as dt
import json
import os
import sys
from types import SimpleNamespace


def main(licenses: int) -> dict:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wlm.settings")
    django.setup()
    import time_machine
    from django.core.management import call_command

    from wlm.conftest import make_user, provisioned_license, token_for
    from wlm.dataplane.models import Change
    from wlm.lib import clock
    from wlm.licenses import lifecycle
    from wlm.licenses.dates import add_years
    from wlm.locations.models import Location
    from wlm.tenancy.models import Distributor, Organization, Partner, Role, TenantType

    call_command("migrate", "--noinput", verbosity=0)
    dist = Distributor.objects.create(name="Dist", email="dist@example.com")
    partner = Partner.objects.create(name="Partner", email="partner@example.com")
    partner.distributors.add(dist)
    org = Organization.objects.create(name="Org", partner=partner, email="org@example.com")
    world = SimpleNamespace(
        dist=dist,
        dist_admin=make_user("dist_admin", TenantType.DISTRIBUTOR, dist),
        org_admin=make_user("org_admin", TenantType.ORGANIZATION, org),
    )
    gateway = make_user("gateway", TenantType.STAFF, role=Role.GATEWAY)

    def place(name: str) -> Location:
        return Location.objects.create(
            organization=org, name=name, sector="retail", timezone="Europe/Madrid", country="ES"
        )

    def in_use(location: Location, ends: dt.date):
        """A license of ``location`` in use from a year before ``ends``, provisioned ten
        days before it started."""
        start = add_years(ends, -1)
        sent = dt.datetime.combine(start, dt.time(10), dt.UTC) - dt.timedelta(days=10)
        license = provisioned_license(world, location, sent)
        with time_machine.travel(sent, tick=False):
            return lifecycle.start(license.pk, start, evidence={"source": "nodes test"})

    today = clock.now().date()
    hotel, cafe = place("Hotel"), place("Café")
    hotel_license = in_use(hotel, today + dt.timedelta(days=300))
    shops = [in_use(place(f"Shop {i}"), today + dt.timedelta(days=20)) for i in range(licenses)]
    # No node has read the change log yet. A refresh reads again the rows of transactions
    # from the oldest one still running anywhere on the server on (docs/dataplane.md), so
    # while another session holds an old transaction open, the seeding's rows would drop
    # the Hotel's facts again and again: gone, the test can tell a lean answer from
    # Django's (test_nodes.lean_paths_see_each_others_changes).
    Change.objects.all().delete()
    return {
        "hotel": str(hotel.pk),
        "hotel_license": hotel_license.pk,
        "cafe": str(cafe.pk),
        "shop_keys": [license.key for license in shops],
        "addresses": sorted({world.org_admin.email, org.email, partner.email, dist.email}),
        "tokens": {
            "gateway": token_for(gateway),
            "dist_admin": token_for(world.dist_admin),
            "org_admin": token_for(world.org_admin),
        },
    }


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]))))
