"""The demo's licenses (``manage.py seed_demo``): every status, with a believable history.

Everything goes through the services and the lifecycle, as the demo users would do it:
partners request, distributors approve, reject, generate, cancel, deny, renew and
upgrade, organizations Send Key and assign locations. The two system transitions are
applied as the device trigger and the worker would: ``start`` with a start date in the
past and ``cut_off`` once that term has ended. Dates are relative to today in each
location's time zone (``wlm.lib.clock``), so the demo never goes stale.

History events carry the moment the seed ran (the lifecycle stamps ``clock.now()``);
the contract dates (start, end) carry the story.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter

from django.contrib.auth import get_user_model
from django.db.models import Q
from django.utils.translation import gettext

from wlm.lib import clock
from wlm.licenses import lifecycle, services
from wlm.licenses.dates import add_months, add_years
from wlm.licenses.models import (
    License,
    LicenseRequest,
    LicenseStatus,
    Module,
    Payment,
    RequestState,
    StartMode,
)
from wlm.locations.models import Location
from wlm.tenancy.models import Distributor

IBERIA = "Iberia Wireless Distribution"
PACIFIC = "Pacific Networks Supply"
START_EVIDENCE = {"source": "seed_demo"}  # what the start event records besides the dates

REJECTION = (
    "Monthly payment is only offered for terms of 2 years or more; "
    "please ask again with annual payment."
)
DENIAL = "Three monthly payments overdue: service suspended until the account is settled."
CANCELLATION = (
    "Generated twice by mistake: Costa's request for this market was approved the same day."
)


def _day(n: int) -> dt.timedelta:
    return dt.timedelta(days=n)


class _Story:
    """The demo's actors and places, looked up once, and the steps of its stories."""

    def __init__(self, locations: dict[str, Location]):
        self.locations = locations
        users = get_user_model().objects.select_related("membership")
        self.users = {user.username: user for user in users}
        self.distributors = {d.name: d for d in Distributor.objects.all()}
        self.modules = {m.code: m for m in Module.objects.all()}

    def today(self, location: str) -> dt.date:
        return clock.today_in(self.locations[location].timezone)

    def terms(self, location, distributor, years, payment, limit, modules=()) -> services.Terms:
        place = self.locations[location]
        return services.Terms(
            location=place,
            distributor=self.distributors[distributor],
            years=years,
            payment=payment,
            **({"rooms": limit} if place.is_hospitality else {"aps": limit}),
            modules=tuple(self.modules[code] for code in modules),
        )

    def request(self, partner: str, terms: services.Terms) -> LicenseRequest:
        return services.create_request(self.users[partner], terms)

    def approved(self, partner: str, distributor: str, terms: services.Terms, **start):
        """Requested by ``partner``, approved by ``distributor``: Pending Provision."""
        asked = self.request(partner, terms)
        return services.approve_request(self.users[distributor], asked.pk, **start)

    def provisioned(self, partner, distributor, organization, terms) -> License:
        """… and activated by the organization on the requested location (Send Key)."""
        license = self.approved(partner, distributor, terms)
        return lifecycle.provision(self.users[organization], terms.location, license.key)

    def in_use(self, partner, distributor, organization, terms, start: dt.date) -> License:
        """… and started on ``start`` (the devices came on that day)."""
        license = self.provisioned(partner, distributor, organization, terms)
        return lifecycle.start(license.pk, start, evidence=START_EVIDENCE)


def has_demo_licenses(locations) -> bool:
    """Whether the demo's locations already hold licenses or requests (the seed's marker).

    Any license or request there, the demo's own or one made since (e.g. by following
    the README's walkthrough), means the stories ran or cannot run on free locations.
    """
    at_demo = Q(location__in=list(locations))
    return (
        License.objects.filter(at_demo).exists() or LicenseRequest.objects.filter(at_demo).exists()
    )


def seed_licenses(locations: dict[str, Location]) -> bool:
    """Create the demo's requests and licenses once; ``False`` when they already exist.

    ``locations``: the demo's locations by name. Runs in the caller's transaction.
    """
    if has_demo_licenses(locations.values()):
        return False
    s = _Story(locations)
    annual, monthly = Payment.ANNUAL, Payment.MONTHLY

    # In use and upgraded: Hotel Mar Azul opened a new wing; Iberia raised the rooms
    # and added analytics.
    benidorm = s.in_use(
        "costa",
        "iberia",
        "marazul",
        s.terms("Mar Azul Benidorm", IBERIA, 3, annual, 30, ["pms"]),
        add_months(s.today("Mar Azul Benidorm"), -14),
    )
    services.upgrade_license(
        s.users["iberia"],
        benidorm,
        rooms=40,
        add_modules=[s.modules["analytics"]],
        reason="New wing with 10 more rooms; visitor analytics added.",
    )

    # In use, ending in 20 days (the "ending soon" views and the notices).
    valencia = "Mercado Central Valencia"
    s.in_use(
        "costa",
        "iberia",
        "mercado",
        s.terms(valencia, IBERIA, 1, annual, 8, ["analytics"]),
        add_years(s.today(valencia) + _day(20), -1),
    )

    # Contract finalized, never used: Iberia generated a duplicate directly and cancelled it.
    duplicate = services.create_license(
        s.users["iberia"], s.terms(valencia, IBERIA, 1, annual, 8, ["analytics"])
    )
    lifecycle.cancel(s.users["iberia"], duplicate.pk, CANCELLATION)

    # Access denied: started five months ago, then the monthly payments stopped.
    canarias = s.in_use(
        "costa",
        "iberia",
        "mercado",
        s.terms("Mercado Central Canarias", IBERIA, 2, monthly, 3),
        add_months(s.today("Mercado Central Canarias"), -5),
    )
    lifecycle.deny(s.users["iberia"], canarias.pk, DENIAL)

    # In use on two locations: Lisbon headquarters, then the Porto hub assigned to it.
    offices = s.in_use(
        "atlantic",
        "iberia",
        "offices",
        s.terms("Atlantic HQ Lisbon", IBERIA, 3, annual, 15, ["business", "enterprise"]),
        add_months(s.today("Atlantic HQ Lisbon"), -7),
    )
    lifecycle.assign(s.users["offices"], offices.pk, locations["Atlantic Porto Hub"])

    # Pending start: activated on the library, waiting for its first devices.
    s.provisioned(
        "atlantic",
        "iberia",
        "campus",
        s.terms("Campus Library", IBERIA, 2, annual, 12, ["easy_auth", "enterprise"]),
    )

    # Contract finalized by cut-off: a one-year term that ended 40 days ago.
    plaza = "Campus Plaza"
    ended = s.in_use(
        "atlantic",
        "iberia",
        "campus",
        s.terms(plaza, IBERIA, 1, annual, 2),
        add_years(s.today(plaza) - _day(40), -1),
    )
    lifecycle.cut_off(ended.pk)
    # … and the partner asks Pacific for a new, larger one: pending in Pacific's queue.
    s.request("atlantic", s.terms(plaza, PACIFIC, 2, annual, 4, ["analytics"]))

    # Rejected (monthly payment on a one-year term), then asked again: pending at Iberia.
    azores = "Atlantic Azores Desk"
    refused = s.request("atlantic", s.terms(azores, IBERIA, 1, monthly, 2))
    services.reject_request(s.users["iberia"], refused.pk, REJECTION)
    s.request("atlantic", s.terms(azores, IBERIA, 1, annual, 2))

    # In use and renewed early: the Auckland hotel's two years were ending in 25 days.
    viaduct = "Harbour Hotel Viaduct"
    harbour = s.in_use(
        "kiwi",
        "pacific",
        "harbour",
        s.terms(viaduct, PACIFIC, 2, annual, 35, ["analytics", "pms"]),
        add_years(s.today(viaduct) + _day(25), -2),
    )
    lifecycle.renew(s.users["pacific"], harbour.pk, 2, reason="Renewed early, same terms.")

    # Pending provision: an approved request that Harbour has not activated yet …
    s.approved(
        "kiwi",
        "pacific",
        s.terms("Harbour Hotel Queenstown", PACIFIC, 1, annual, 15, ["pms"]),
    )
    # … and a license Pacific generated directly, with a fixed start next month.
    centre = "Harbour Conference Centre"
    services.create_license(
        s.users["pacific"],
        s.terms(centre, PACIFIC, 1, annual, 4, ["business"]),
        start_mode=StartMode.FIXED,
        fixed_start=s.today(centre) + _day(30),
    )
    return True


def summary() -> str:
    """One line: the licenses by status and the requests by state."""
    statuses = Counter(License.objects.values_list("status", flat=True))
    states = Counter(LicenseRequest.objects.values_list("state", flat=True))
    licenses = ", ".join(f"{statuses[s]} {s}" for s in LicenseStatus.values)
    requests = ", ".join(f"{states[s]} {s}" for s in RequestState.values)
    return gettext("Licenses: %(licenses)s. Requests: %(requests)s.") % {
        "licenses": licenses,
        "requests": requests,
    }
