"""``manage.py generate_load``: benchmark data that keeps every rule the services keep."""

import datetime as dt
import itertools
import json

import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework.test import APIClient

from wlm.connections.models import LocationDay
from wlm.demo import load
from wlm.licenses import current, entitlement
from wlm.licenses.models import Assignment, License, LicenseStatus, LicenseType, StartMode
from wlm.locations.models import Location
from wlm.tenancy import tokens

NOW = dt.datetime(2027, 3, 10, 12, 0, tzinfo=dt.UTC)
pytestmark = pytest.mark.django_db


@pytest.fixture
def generated():
    with time_machine.travel(NOW, tick=False):
        return load.generate(400, pending_share=0.2, other_share=0.3, seed=7)


def test_every_location_gets_one_license_in_the_asked_mix(generated):
    assert Location.objects.count() == 400
    assert License.objects.count() == 400
    assert sum(generated.statuses.values()) == 400
    assert set(generated.statuses) == set(LicenseStatus.values)
    assert (
        generated.statuses[LicenseStatus.IN_USE] > generated.statuses[LicenseStatus.PENDING_START]
    )
    for status, ids in generated.locations.items():
        assert set(License.objects.filter(status=status).values_list("location_id", flat=True)) == {
            Location.objects.get(pk=pk).pk for pk in ids
        }


def test_the_rows_keep_the_rules_of_the_services(generated):
    today = NOW.date()
    for license in License.objects.select_related("location"):
        place = license.location
        expected_type = LicenseType.ROOMS if place.is_hospitality else LicenseType.APS
        assert license.license_type == expected_type
        assert license.timezone == place.timezone
        assigned = list(
            Assignment.objects.filter(license=license).values_list("location", flat=True)
        )
        if license.status == LicenseStatus.PENDING_PROVISION:
            assert assigned == [] and license.provisioned is None
            continue
        assert assigned == [place.pk]
        assert license.organization_id == place.organization_id
        assert license.provisioned is not None
        if license.status == LicenseStatus.PENDING_START:
            assert license.start_mode == StartMode.AUTOMATIC and license.start_date is None
        elif license.status == LicenseStatus.CONTRACT_FINALIZED:
            assert license.end_date < today
        else:  # in use or denied: the term runs today
            assert license.start_date <= today < license.end_date
            assert license.years in range(1, 6)


def test_entitlement_follows_the_generated_status(generated):
    with time_machine.travel(NOW, tick=False):
        for status in (LicenseStatus.IN_USE, LicenseStatus.ACCESS_DENIED):
            location = Location.objects.get(pk=generated.locations[status][0])
            answer = entitlement.entitlement_for(location, NOW)
            assert (answer.reason == "ok") is (status == LicenseStatus.IN_USE), answer


def test_the_gateway_token_reports_connections(generated):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {generated.gateway_token}")
    location = generated.locations[LicenseStatus.IN_USE][0]
    with time_machine.travel(NOW, tick=False):
        response = client.post(
            "/api/v1/connections/",
            {"events": [{"location": location, "device": "AA:BB:CC:DD:EE:01"}]},
            format="json",
        )
    assert response.status_code == 200, response.content
    assert response.json()["accepted"] == 1
    assert LocationDay.objects.get(location_id=location).events == 1
    assert tokens.find(generated.gateway_token) is not None


def test_a_second_generation_into_the_same_database_is_refused(generated):
    with pytest.raises(CommandError):
        load.generate(10)
    assert License.objects.count() == 400


def test_the_command_writes_the_manifest(tmp_path):
    manifest = tmp_path / "manifest.json"
    with time_machine.travel(NOW, tick=False):
        call_command("generate_load", "--locations", "60", "--manifest", str(manifest))
    data = json.loads(manifest.read_text())
    assert sum(len(ids) for ids in data["locations"].values()) == 60
    assert tokens.find(data["gateway_token"]) is not None


def test_history_and_notices_are_as_the_notifier_would_leave_them(world):
    from wlm.notifications import worker
    from wlm.notifications.models import Notice, NoticeState

    with time_machine.travel(NOW, tick=False):
        summary = load.generate(50, seed=3, history=2)
        assert summary.history == 100
        assert current.stale() == []  # each location's license, stored in bulk
        assert License.objects.filter(location__name__startswith="Load").count() == 150
        for location in Location.objects.filter(name__startswith="Load")[:20]:
            terms = sorted(
                (term.start_date, term.end_date)
                for term in License.objects.filter(location=location, start_date__isnull=False)
            )
            assert all(a[1] <= b[0] for a, b in itertools.pairwise(terms))
        with_end = License.objects.filter(end_date__isnull=False, location__name__startswith="Load")
        assert Notice.objects.filter(license__in=with_end).count() == 6 * with_end.count()
        assert not Notice.objects.filter(state=NoticeState.SCHEDULED, due_at__lte=NOW).exists()
        assert worker.run_pass().sent == 0  # nothing is due right after the generation
        # the sequences follow the written ids: the services create licenses as usual
        make_license = load.License.objects.create
        assert make_license(
            key="00000-00000-00000-00000-00000",
            location=world.shop,
            distributor=world.dist,
            partner=world.partner,
            years=1,
            payment="annual",
            license_type=LicenseType.APS,
            limit=1,
            timezone="UTC",
        ).pk > max(License.objects.exclude(key__startswith="00000").values_list("pk", flat=True))
        current.refresh([world.shop])  # test data written past the services
