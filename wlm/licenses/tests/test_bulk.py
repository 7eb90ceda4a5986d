"""Bulk work on licenses (wlm/licenses/bulk.py): each action through the lifecycle, the
refusals with the rule's message, the rights, bad input, a crash and its resumption
(exactly once per license), and the pages: the list's bar, the confirmation, the job's
progress and results, the export; and a renewal of 1,000 licenses to the end."""

import csv
import datetime as dt
import io
import re
import threading

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command
from django.db import connection

from wlm.licenses import bulk, current
from wlm.licenses.keys import generate_key
from wlm.licenses.models import (
    Assignment,
    BulkJob,
    BulkJobItem,
    BulkJobState,
    BulkOutcome,
    EventKind,
    License,
    LicenseEvent,
    LicenseStatus,
)
from wlm.licenses.tests.test_licenses_api import other_license
from wlm.licenses.tests.test_lifecycle import make_license
from wlm.notifications.management.commands import notifier
from wlm.tenancy.models import Membership, Role

pytestmark = pytest.mark.django_db

S = LicenseStatus
NOW = dt.datetime(2027, 3, 10, 12, 0, tzinfo=dt.UTC)
LIST = "/licenses/"
BULK = "/licenses/bulk/"


@pytest.fixture(autouse=True)
def _at_now():
    with time_machine.travel(NOW, tick=False):
        yield


def many(world, n: int, status=S.IN_USE) -> list[License]:
    """``n`` licenses of ``world.dist`` in use at the hotel, written in bulk (test data)."""
    start = dt.date(2026, 1, 15)
    licenses = License.objects.bulk_create(
        License(
            key=generate_key(),
            location=world.hotel,
            distributor=world.dist,
            partner=world.partner,
            years=2,
            payment="annual",
            license_type="rooms",
            limit=10,
            status=status,
            timezone=world.hotel.timezone,
            organization=world.org,
            provisioned=NOW - dt.timedelta(days=400),
            start_date=start,
            end_date=start.replace(year=2028),
        )
        for _ in range(n)
    )
    Assignment.objects.bulk_create(
        Assignment(license=license, location=world.hotel) for license in licenses
    )
    current.refresh([world.hotel])
    return licenses


def events(license, kind) -> int:
    return LicenseEvent.objects.filter(license=license, kind=kind).count()


def items(job) -> dict[int, tuple[str, str]]:
    return {
        item.license_id: (item.outcome, item.message)
        for item in BulkJobItem.objects.filter(job=job)
    }


def nothing_stored():
    return BulkJob.objects.count() == 0 and BulkJobItem.objects.count() == 0


# --- The service --------------------------------------------------------------------


@pytest.mark.parametrize(
    "action, status, params, after, kind",
    [
        ("renew", S.IN_USE, {"years": 2}, S.IN_USE, EventKind.RENEWED),
        ("deny", S.IN_USE, {"reason": "unpaid"}, S.ACCESS_DENIED, EventKind.DENIED),
        ("restore", S.ACCESS_DENIED, {}, S.IN_USE, EventKind.RESTORED),
        (
            "cancel",
            S.PENDING_PROVISION,
            {"reason": "gone"},
            S.CONTRACT_FINALIZED,
            EventKind.CANCELLED,
        ),
    ],
)
def test_each_action_changes_each_license_through_the_lifecycle(
    world, action, status, params, after, kind
):
    before_denial = {"before_denial": S.IN_USE} if status == S.ACCESS_DENIED else {}
    licenses = [make_license(world, status, **before_denial) for _ in range(3)]
    job = bulk.create_job(world.dist_admin, action, [lic.pk for lic in licenses], **params)
    assert job.state == BulkJobState.QUEUED and job.total == 3
    assert bulk.work() == 3
    job.refresh_from_db()
    assert (job.state, job.done, job.refused) == (BulkJobState.FINISHED, 3, 0)
    assert job.started == NOW and job.finished == NOW
    for license in licenses:
        license.refresh_from_db()
        assert license.status == after
        event = license.events.get(kind=kind)  # one history entry each
        assert event.actor == world.dist_admin
        assert event.reason == params.get("reason", "")
    if action == "renew":
        assert {lic.end_date for lic in licenses} == {dt.date(2030, 1, 15)}
        assert {e.after["years"] for e in LicenseEvent.objects.filter(kind=kind)} == {2}
    assert set(items(job).values()) == {(BulkOutcome.DONE, "")}


def test_a_refused_license_says_why_and_keeps_its_state(world):
    in_use = make_license(world, S.IN_USE)
    waiting = make_license(world, S.PENDING_PROVISION)
    job = bulk.create_job(world.dist_admin, "renew", [in_use.pk, waiting.pk], years=1)
    bulk.work()
    job.refresh_from_db()
    assert (job.state, job.done, job.refused) == (BulkJobState.FINISHED, 1, 1)
    assert items(job) == {
        in_use.pk: (BulkOutcome.DONE, ""),
        waiting.pk: (BulkOutcome.REFUSED, "Cannot renew a license that is Pending Provision."),
    }
    waiting.refresh_from_db()
    assert waiting.status == S.PENDING_PROVISION
    assert events(waiting, EventKind.RENEWED) == 0
    assert events(in_use, EventKind.RENEWED) == 1


def test_a_renewal_over_the_limit_is_refused_with_the_numbers(world):
    license = make_license(world, S.IN_USE)
    License.objects.filter(pk=license.pk).update(limit=1)
    world.hotel.rooms.create(number="102")  # 2 rooms in use, the license allows 1
    job = bulk.create_job(world.dist_admin, "renew", [license.pk], years=1)
    bulk.work()
    [(outcome, message)] = items(job).values()
    assert outcome == BulkOutcome.REFUSED
    assert "The locations hold 2 rooms; this license allows 1." in message


@pytest.mark.parametrize("person", ["dist_viewer", "partner_admin", "org_admin", "staff_viewer"])
def test_a_role_without_the_action_cannot_make_a_job(world, person):
    license = make_license(world, S.IN_USE)
    with pytest.raises(PermissionDenied):
        bulk.create_job(getattr(world, person), "deny", [license.pk], reason="x")
    assert nothing_stored()


def test_licenses_the_user_does_not_see_are_refused_before_anything_is_stored(world):
    own = make_license(world, S.IN_USE)
    other = other_license(world)
    with pytest.raises(ValidationError) as refused:
        bulk.create_job(world.dist_admin, "renew", [own.pk, other.pk, 999_999], years=1)
    [message] = refused.value.message_dict["ids"]
    assert "2 selected licenses do not exist or are not ones you see" in message
    assert nothing_stored()


def test_staff_acts_on_every_tenants_licenses(world):
    own, other = make_license(world, S.IN_USE), other_license(world)
    job = bulk.create_job(world.staff, "deny", [own.pk, other.pk], reason="audit")
    bulk.work()
    assert set(items(job).values()) == {(BulkOutcome.DONE, "")}


def test_a_role_taken_away_after_confirmation_refuses_the_rest_as_not_allowed(world):
    licenses = [make_license(world, S.IN_USE) for _ in range(2)]
    job = bulk.create_job(world.dist_admin, "renew", [lic.pk for lic in licenses], years=1)
    Membership.objects.filter(user=world.dist_admin).update(role=Role.VIEWER)
    bulk.work()
    job.refresh_from_db()
    assert (job.done, job.refused) == (0, 2)
    assert set(items(job).values()) == {
        (BulkOutcome.REFUSED, "Not allowed: Your role cannot make this change to a license.")
    }
    assert LicenseEvent.objects.filter(kind=EventKind.RENEWED).count() == 0


def test_a_license_that_moved_to_another_tenant_is_refused_not_skipped(world):
    kept, moved = make_license(world, S.IN_USE), make_license(world, S.IN_USE)
    job = bulk.create_job(world.dist_admin, "deny", [kept.pk, moved.pk], reason="unpaid")
    License.objects.filter(pk=moved.pk).update(distributor=world.other_dist)
    current.refresh([moved.location_id])  # its stored copies, as after a service's change
    bulk.work()
    assert items(job) == {
        kept.pk: (BulkOutcome.DONE, ""),
        moved.pk: (BulkOutcome.REFUSED, "Not allowed: This license belongs to another tenant."),
    }
    moved.refresh_from_db()
    assert moved.status == S.IN_USE


def test_an_inactive_owner_changes_nothing(world):
    license = make_license(world, S.IN_USE)
    job = bulk.create_job(world.dist_admin, "deny", [license.pk], reason="x")
    type(world.dist_admin).objects.filter(pk=world.dist_admin.pk).update(is_active=False)
    bulk.work()
    [(outcome, message)] = items(job).values()
    assert outcome == BulkOutcome.REFUSED and message.startswith("Not allowed:")


def test_a_refusal_is_written_in_the_owners_language(world):
    license = make_license(world, S.PENDING_PROVISION)
    Membership.objects.filter(user=world.dist_admin).update(language="es")
    job = bulk.create_job(world.dist_admin, "renew", [license.pk], years=1)
    bulk.work()
    [(_outcome, message)] = items(job).values()
    assert message == "No se puede renovar una licencia en estado «Pendiente de aprovisionamiento»."


@pytest.mark.parametrize(
    "action, params, field",
    [
        ("upgrade", {}, "action"),
        ("start", {}, "action"),
        ("renew", {}, "years"),
        ("renew", {"years": 0}, "years"),
        ("renew", {"years": 6}, "years"),
        ("renew", {"years": True}, "years"),
        ("renew", {"years": "2"}, "years"),
        ("deny", {}, "reason"),
        ("deny", {"reason": "   "}, "reason"),
        ("cancel", {"reason": ""}, "reason"),
        ("deny", {"reason": "x" * 2001}, "reason"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_stored(world, action, params, field):
    license = make_license(world, S.IN_USE)
    with pytest.raises(ValidationError) as refused:
        bulk.create_job(world.dist_admin, action, [license.pk], **params)
    assert field in refused.value.message_dict
    assert nothing_stored()


def test_no_licenses_or_too_many_are_refused(world, monkeypatch):
    licenses = [make_license(world, S.IN_USE) for _ in range(3)]
    with pytest.raises(ValidationError, match="Select at least one license"):
        bulk.create_job(world.dist_admin, "renew", [], years=1)
    monkeypatch.setattr(bulk, "MAX_LICENSES", 2)
    with pytest.raises(ValidationError, match="at most 2"):
        bulk.create_job(world.dist_admin, "renew", [lic.pk for lic in licenses], years=1)
    assert nothing_stored()


def test_a_license_named_twice_is_one_item(world):
    license = make_license(world, S.IN_USE)
    job = bulk.create_job(world.dist_admin, "renew", [license.pk, license.pk], years=1)
    assert job.total == 1 and job.items.count() == 1


class Crash(BaseException):
    """The process dies: not an error any code catches."""


def test_a_crash_in_the_middle_resumes_with_the_pending_items_exactly_once(world, monkeypatch):
    licenses = many(world, 6)
    job = bulk.create_job(world.dist_admin, "renew", [lic.pk for lic in licenses], years=1)
    renew = bulk.APPLY["renew"]
    calls = []

    def dies_after_the_fourth_change(user, pk, job):
        changed = renew(user, pk, job)  # the renewal is made in the item's transaction…
        calls.append(pk)
        if len(calls) == 4:
            raise Crash  # …and the process dies before it commits
        return changed

    monkeypatch.setitem(bulk.APPLY, "renew", dies_after_the_fourth_change)
    with pytest.raises(Crash):
        bulk.work()
    job.refresh_from_db()
    assert (job.state, job.done, job.refused) == (BulkJobState.RUNNING, 3, 0)
    outcomes = items(job)
    assert [outcomes[lic.pk][0] for lic in licenses] == ["done"] * 3 + ["pending"] * 3
    # the fourth license's renewal went with its item's transaction
    assert [events(lic, EventKind.RENEWED) for lic in licenses] == [1, 1, 1, 0, 0, 0]
    fourth = License.objects.get(pk=licenses[3].pk)
    assert fourth.end_date == dt.date(2028, 1, 15)

    monkeypatch.setitem(bulk.APPLY, "renew", renew)  # the notifier again, after the crash
    assert bulk.work() == 3
    job.refresh_from_db()
    assert (job.state, job.done, job.refused) == (BulkJobState.FINISHED, 6, 0)
    assert [events(lic, EventKind.RENEWED) for lic in licenses] == [1] * 6
    assert set(
        License.objects.filter(pk__in=[lic.pk for lic in licenses]).values_list(
            "end_date", flat=True
        )
    ) == {dt.date(2029, 1, 15)}


def test_a_crash_after_the_last_item_finishes_the_job_on_the_next_run(world, monkeypatch):
    license = make_license(world, S.IN_USE)
    job = bulk.create_job(world.dist_admin, "renew", [license.pk], years=1)
    real = bulk.finish_complete
    # the worker dies between the last item's commit and marking the job finished
    monkeypatch.setattr(bulk, "finish_complete", lambda job_id=None: 0)
    assert bulk.work() == 1
    job.refresh_from_db()
    assert (job.state, job.done) == (BulkJobState.RUNNING, 1)
    monkeypatch.setattr(bulk, "finish_complete", real)
    assert bulk.work() == 0
    job.refresh_from_db()
    assert job.state == BulkJobState.FINISHED and job.finished == NOW
    assert events(license, EventKind.RENEWED) == 1


def test_an_unexpected_error_refuses_that_license_only(world, monkeypatch):
    first, second = make_license(world, S.IN_USE), make_license(world, S.IN_USE)
    job = bulk.create_job(world.dist_admin, "renew", [first.pk, second.pk], years=1)
    renew = bulk.APPLY["renew"]

    def broken_for_the_first(user, pk, job):
        if pk == first.pk:
            raise RuntimeError("a bug")
        return renew(user, pk, job)

    monkeypatch.setitem(bulk.APPLY, "renew", broken_for_the_first)
    bulk.work()
    assert items(job) == {
        first.pk: (BulkOutcome.REFUSED, "Not done: an unexpected error (logged)."),
        second.pk: (BulkOutcome.DONE, ""),
    }


def test_work_stops_between_items_when_asked_and_within_its_time(world):
    licenses = many(world, 3)
    job = bulk.create_job(world.dist_admin, "renew", [lic.pk for lic in licenses], years=1)
    asked = iter([False, True])
    assert bulk.work(stop=lambda: next(asked)) == 1
    assert bulk.work(seconds=0) == 0
    assert bulk.pending(job.pk)
    assert bulk.work(job_id=job.pk) == 2
    assert not bulk.pending()


# the statements of one renewal in a job (34 before they were counted here): the item's
# transaction (2, savepoints in a test), the claim, the owner, the renewal's savepoint
# (2), the license locked with its tenants and token, the managed check, the elements in
# use, the license, its notices (2), its locations' stored license (3), its terms (2),
# its token, the history and audit rows, the item's outcome and the job's counts
RENEWAL_STATEMENTS = 22


def test_a_renewal_in_a_job_takes_a_bounded_number_of_statements(
    world, django_assert_max_num_queries
):
    licenses = [make_license(world, S.IN_USE) for _ in range(3)]
    job = bulk.create_job(world.dist_admin, "renew", [lic.pk for lic in licenses], years=1)
    assert bulk.work(job_id=job.pk, stop=iter([False, True]).__next__) == 1
    # and 6: the job read once, the last claim (3: it finds none) and finishing it (2)
    with django_assert_max_num_queries(2 * RENEWAL_STATEMENTS + 6):
        assert bulk.work(job_id=job.pk) == 2
    assert events(licenses[2], EventKind.RENEWED) == 1


def test_the_notifier_puts_the_setting_s_workers_on_postgresql_one_on_sqlite(settings):
    settings.BULK_WORKERS = 3
    assert bulk.workers() == (3 if connection.vendor == "postgresql" else 1)


def test_the_notifier_works_on_bulk_jobs_after_its_pass(world):
    licenses = [make_license(world, S.IN_USE) for _ in range(2)]
    job = bulk.create_job(world.dist_admin, "renew", [lic.pk for lic in licenses], years=1)
    out = io.StringIO()
    call_command("notifier", "--once", stdout=out)
    assert "bulk: 2 licenses" in out.getvalue()
    job.refresh_from_db()
    assert (job.state, job.done) == (BulkJobState.FINISHED, 2)


def test_a_waiting_notifier_starts_a_job_made_meanwhile(world, monkeypatch):
    monkeypatch.setattr(notifier, "BULK_POLL", 0.01)
    license = make_license(world, S.IN_USE)
    job = bulk.create_job(world.dist_admin, "deny", [license.pk], reason="unpaid")
    command = notifier.Command(stdout=io.StringIO())
    command._rest(threading.Event(), 0.5)  # the wait between two passes
    job.refresh_from_db()
    assert (job.state, job.done) == (BulkJobState.FINISHED, 1)


def test_the_question_says_how_many_and_what():
    assert bulk.question("renew", 1000, 1) == "Renew 1,000 licenses by 1 year?"
    assert bulk.question("renew", 1, 3) == "Renew 1 license by 3 years?"
    assert bulk.question("deny", 2) == "Deny access to 2 licenses?"
    assert bulk.question("restore", 1) == "Restore access to 1 license?"
    assert bulk.question("cancel", 5000) == "Cancel 5,000 licenses?"


# --- The pages ------------------------------------------------------------------------


def get(client, user, url, data=None, **headers):
    client.force_login(user)
    return client.get(url, data or {}, **headers)


def post(client, user, url, data):
    client.force_login(user)
    return client.post(url, data)


def text(response) -> str:
    return response.content.decode()


def options(page: str) -> list[str]:
    bar = re.search(r'<form id="bulk-form".*?</form>', page, re.S).group(0)
    action = re.search(r'<select name="action".*?</select>', bar, re.S).group(0)
    return re.findall(r'<option value="([a-z]+)"', action)


@pytest.mark.parametrize(
    "person, expected",
    [
        ("dist_admin", ["renew", "deny", "restore", "cancel", "export"]),
        ("staff", ["renew", "deny", "restore", "cancel", "export"]),
        ("dist_viewer", ["export"]),
        ("partner_admin", ["export"]),
        ("org_admin", ["export"]),
    ],
)
def test_the_list_offers_the_bulk_actions_of_the_role(client, world, person, expected):
    license = make_license(world, S.IN_USE)
    page = text(get(client, getattr(world, person), LIST))
    assert options(page) == expected
    row = re.search(rf'<tr data-key="{license.key}".*?</tr>', page, re.S).group(0)
    checkbox = re.search(r'<td class="select"[^>]*>(.*?)</td>', row, re.S)
    assert f'name="id" value="{license.pk}" form="bulk-form"' in checkbox.group(1)
    assert 'data-label="Select"' in row
    assert "1 matching license" in page


def test_the_bar_carries_the_lists_filters_for_all_matching(client, world):
    make_license(world, S.IN_USE)
    page = text(get(client, world.dist_admin, LIST, {"status": "in_use", "page": "1"}))
    assert '<input type="hidden" name="filters" value="status=in_use">' in page
    htmx = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "results"}
    fragment = text(get(client, world.dist_admin, LIST, {"q": "zzz-none"}, **htmx))
    assert 'id="bulk-form"' not in fragment  # no rows, no bar


def test_the_confirmation_says_how_many_and_what(client, world):
    licenses = [make_license(world, S.IN_USE) for _ in range(2)]
    data = {"action": "renew", "years": "2", "id": [lic.pk for lic in licenses]}
    response = get(client, world.dist_admin, BULK, data)
    assert response.status_code == 200
    page = text(response)
    assert '<h1 data-testid="bulk-question">Renew 2 licenses by 2 years?</h1>' in page
    for license in licenses:
        assert f'<input type="hidden" name="id" value="{license.pk}">' in page
        assert license.key in page
    assert '<input type="hidden" name="years" value="2">' in page
    assert nothing_stored()


def test_confirming_a_small_selection_runs_it_at_once_and_shows_the_results(client, world):
    in_use = make_license(world, S.IN_USE)
    waiting = make_license(world, S.PENDING_PROVISION)
    data = {"action": "renew", "years": "1", "id": [in_use.pk, waiting.pk], "reason": "paid"}
    response = post(client, world.dist_admin, BULK, data)
    job = BulkJob.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/licenses/bulk/{job.pk}/"
    assert (job.state, job.done, job.refused) == (BulkJobState.FINISHED, 1, 1)
    page = text(client.get(response["Location"]))
    assert "Renew by 1 year: 2 licenses" in page
    assert "2 of 2 processed" in page
    assert 'hx-trigger="every 1s"' not in page  # finished: no polling
    assert "Cannot renew a license that is Pending Provision." in page
    refused = text(client.get(response["Location"], {"outcome": "refused"}))
    assert waiting.key in refused and in_use.key not in refused
    done = text(client.get(response["Location"], {"outcome": "done"}))
    assert in_use.key in done and waiting.key not in done
    assert LicenseEvent.objects.get(license=in_use, kind=EventKind.RENEWED).reason == "paid"


def test_a_big_selection_is_queued_and_its_page_polls_until_it_is_finished(
    client, world, monkeypatch
):
    monkeypatch.setattr(bulk, "INLINE_MAX", 1)
    licenses = [make_license(world, S.IN_USE) for _ in range(2)]
    data = {"action": "deny", "id": [lic.pk for lic in licenses], "reason": "unpaid"}
    response = post(client, world.dist_admin, BULK, data)
    job = BulkJob.objects.get()
    assert job.state == BulkJobState.QUEUED
    page = text(client.get(response["Location"]))
    assert 'hx-trigger="every 1s"' in page and "0 of 2 processed" in page
    assert '<noscript><meta http-equiv="refresh" content="3"></noscript>' in page
    headers = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "bulk-job"}
    panel = text(client.get(response["Location"], **headers))
    assert panel.startswith('<section id="bulk-job"') and "<html" not in panel
    bulk.work()
    panel = text(client.get(response["Location"], **headers))
    assert 'data-state="finished"' in panel and "hx-trigger" not in panel
    assert "2 of 2 processed" in panel and panel.count('data-outcome="done"') == 2


def test_the_results_csv_is_the_apis(client, world):
    in_use, waiting = make_license(world, S.IN_USE), make_license(world, S.PENDING_PROVISION)
    post(
        client,
        world.dist_admin,
        BULK,
        {"action": "renew", "years": "1", "id": [in_use.pk, waiting.pk]},
    )
    job = BulkJob.objects.get()
    page = text(client.get(f"/licenses/bulk/{job.pk}/", {"outcome": "refused"}))
    link = f"/api/v1/licenses/bulk/{job.pk}/results/?format=csv&amp;outcome=refused"
    assert link in page
    response = client.get(link.replace("&amp;", "&"))
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [(r["key"], r["outcome"], r["message"]) for r in rows] == [
        (waiting.key, "refused", "Cannot renew a license that is Pending Provision.")
    ]


def test_all_matching_freezes_the_filtered_licenses_the_user_sees(client, world, monkeypatch):
    monkeypatch.setattr(bulk, "INLINE_MAX", 0)
    denied = [make_license(world, S.ACCESS_DENIED, before_denial=S.IN_USE) for _ in range(3)]
    make_license(world, S.IN_USE)  # not matching
    other_license(world, S.ACCESS_DENIED)  # matching, but another distributor's
    data = {"action": "restore", "all": "1", "filters": "status=access_denied"}
    page = text(get(client, world.dist_admin, BULK, data))
    assert "Restore access to 3 licenses?" in page
    assert "<li>Status: access_denied</li>" in page
    assert '<input type="hidden" name="expected" value="3">' in page
    assert 'name="id"' not in page  # frozen when confirmed, not before
    response = post(client, world.dist_admin, BULK, {**data, "expected": "3"})
    assert response.status_code == 302
    job = BulkJob.objects.get()
    assert set(job.items.values_list("license_id", flat=True)) == {lic.pk for lic in denied}
    assert job.filters == "status=access_denied"


def test_all_matching_asks_again_when_the_matching_licenses_changed(client, world):
    for _ in range(2):
        make_license(world, S.IN_USE)
    data = {"action": "renew", "years": "1", "all": "1", "filters": "status=in_use"}
    assert "Renew 2 licenses by 1 year?" in text(get(client, world.dist_admin, BULK, data))
    make_license(world, S.IN_USE)  # meanwhile
    response = post(client, world.dist_admin, BULK, {**data, "expected": "2"})
    assert response.status_code == 409
    page = text(response)
    assert "The licenses matching the filters changed: 3 now." in page
    assert "Renew 3 licenses by 1 year?" in page
    assert '<input type="hidden" name="expected" value="3">' in page
    assert nothing_stored()


@pytest.mark.parametrize(
    "data, message",
    [
        ({"action": "fly", "id": ["ID"]}, "Select a valid choice."),
        ({"action": "renew", "years": "1"}, "Select at least one license."),
        ({"action": "renew", "years": "9", "id": ["ID"]}, "Select a valid choice. 9"),
        ({"action": "renew", "id": ["ID"]}, "Choose how many years."),
        ({"action": "renew", "years": "1", "id": ["abc"]}, "whole numbers"),
        ({"action": "renew", "years": "1", "id": ["99999999999999999999"]}, "whole numbers"),
        ({"action": "renew", "years": "1", "id": ["OTHER"]}, "not ones you see"),
        ({"action": "deny", "id": ["ID"], "reason": " "}, "This field is required."),
        ({"action": "cancel", "id": ["ID"]}, "This field is required."),
        (
            {"action": "renew", "years": "1", "all": "1", "filters": "bogus=1"},
            "Unknown filter: bogus.",
        ),
        (
            {"action": "renew", "years": "1", "all": "1", "filters": "status=nope"},
            "status: Select a valid choice.",
        ),
        (
            {"action": "renew", "years": "1", "all": "1", "filters": "status=pending_start"},
            "No licenses match these filters.",
        ),
    ],
)
def test_bad_input_comes_back_with_a_clear_error_and_nothing_is_stored(
    client, world, data, message
):
    license, other = make_license(world, S.IN_USE), other_license(world)
    swap = {"ID": str(license.pk), "OTHER": str(other.pk)}
    data = {
        k: [swap.get(v, v) for v in vs] if isinstance(vs, list) else vs for k, vs in data.items()
    }
    response = post(client, world.dist_admin, BULK, data)
    assert response.status_code == 400
    assert message in text(response)
    assert nothing_stored()


def test_too_many_matching_licenses_ask_for_narrower_filters(client, world, monkeypatch):
    monkeypatch.setattr(bulk, "MAX_LICENSES", 2)
    many(world, 3)
    data = {"action": "renew", "years": "1", "all": "1", "filters": ""}
    response = get(client, world.dist_admin, BULK, data)
    assert response.status_code == 400
    assert "3 licenses are selected; a bulk change takes at most 2. Narrow the filters." in text(
        response
    )


@pytest.mark.parametrize("person", ["dist_viewer", "partner_admin", "org_admin", "staff_viewer"])
def test_a_role_without_the_action_gets_403_and_nothing_is_stored(client, world, person):
    license = make_license(world, S.IN_USE)
    data = {"action": "deny", "id": [license.pk], "reason": "x"}
    assert get(client, getattr(world, person), BULK, data).status_code == 403
    assert post(client, getattr(world, person), BULK, data).status_code == 403
    assert nothing_stored()


@pytest.mark.parametrize("person", ["dist_viewer", "other_dist_admin", "org_admin"])
def test_a_job_is_its_owners_alone(client, world, person):
    license = make_license(world, S.IN_USE)
    job = bulk.create_job(world.dist_admin, "renew", [license.pk], years=1)
    assert get(client, getattr(world, person), f"/licenses/bulk/{job.pk}/").status_code == 404
    assert get(client, world.dist_admin, f"/licenses/bulk/{job.pk}/").status_code == 200


@pytest.mark.parametrize("person", ["staff", "staff_viewer"])
def test_staff_read_every_job(client, world, person):
    """Staff see every license, and so every job (read only: a job has no actions)."""
    license = make_license(world, S.IN_USE)
    job = bulk.create_job(world.dist_admin, "renew", [license.pk], years=1)
    assert get(client, getattr(world, person), f"/licenses/bulk/{job.pk}/").status_code == 200


def test_anonymous_is_sent_to_the_login_page(client, world):
    for url in (BULK, "/licenses/bulk/1/"):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_export_gives_the_csv_of_the_chosen_licenses_to_any_reader(client, world):
    chosen = [make_license(world, S.IN_USE) for _ in range(2)]
    make_license(world, S.IN_USE)  # not chosen
    data = {"action": "export", "id": [lic.pk for lic in chosen]}
    page = text(get(client, world.dist_viewer, BULK, data))
    assert "Export 2 licenses as CSV?" in page and "Download CSV" in page
    response = post(client, world.dist_viewer, BULK, data)
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert sorted(row["key"] for row in rows) == sorted(lic.key for lic in chosen)
    assert nothing_stored()
    other = other_license(world)
    refused = post(client, world.dist_viewer, BULK, {"action": "export", "id": [other.pk]})
    assert refused.status_code == 400


def test_export_of_all_matching_reads_the_filtered_rows(client, world):
    denied = make_license(world, S.ACCESS_DENIED, before_denial=S.IN_USE)
    make_license(world, S.IN_USE)
    data = {"action": "export", "all": "1", "filters": "status=access_denied"}
    assert "Export the licenses matching the filters as CSV?" in text(
        get(client, world.org_viewer, BULK, data)
    )
    response = post(client, world.org_viewer, BULK, data)
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [row["key"] for row in rows] == [denied.key]


# each item its own transaction, as in production (inside one test transaction, 5,000
# savepoints overflow PostgreSQL's subtransaction cache and every read slows down)
@pytest.mark.django_db(transaction=True)
def test_a_bulk_renewal_of_1000_licenses_runs_to_the_end_with_1000_history_entries(client, world):
    licenses = many(world, 1000)
    data = {"action": "renew", "years": "1", "all": "1", "filters": "status=in_use"}
    page = text(get(client, world.dist_admin, BULK, data))
    assert '<h1 data-testid="bulk-question">Renew 1,000 licenses by 1 year?</h1>' in page
    response = post(client, world.dist_admin, BULK, {**data, "expected": "1000"})
    job = BulkJob.objects.get()
    assert job.total == 1000 and job.state == BulkJobState.QUEUED  # too many to run inline
    assert "0 of 1000 processed" in text(client.get(response["Location"]))
    assert bulk.work() == 1000
    job.refresh_from_db()
    assert (job.state, job.done, job.refused) == (BulkJobState.FINISHED, 1000, 0)
    assert LicenseEvent.objects.filter(kind=EventKind.RENEWED).count() == 1000
    assert set(
        LicenseEvent.objects.filter(kind=EventKind.RENEWED).values_list("license_id", flat=True)
    ) == {lic.pk for lic in licenses}
    assert set(License.objects.values_list("end_date", flat=True)) == {dt.date(2029, 1, 15)}
    assert "1000 of 1000 processed" in text(client.get(response["Location"]))


# --- The API --------------------------------------------------------------------------

API = "/api/v1/licenses/bulk/"


def test_the_api_queues_a_job_answers_202_and_reads_it(world, api):
    in_use, waiting = make_license(world, S.IN_USE), make_license(world, S.PENDING_PROVISION)
    client = api(world.dist_admin)
    response = client.post(
        API, {"action": "renew", "ids": [in_use.pk, waiting.pk], "years": 1}, format="json"
    )
    assert response.status_code == 202, response.content
    job = BulkJob.objects.get()
    body = response.json()
    assert response["Location"] == body["url"] == f"http://testserver{API}{job.pk}/"
    assert (body["state"], body["total"], body["pending"]) == ("queued", 2, 2)
    assert body["page"] == f"http://testserver/licenses/bulk/{job.pk}/"
    bulk.work()
    body = client.get(f"{API}{job.pk}/").json()
    assert (body["state"], body["done"], body["refused"], body["pending"]) == ("finished", 1, 1, 0)
    results = client.get(body["results"], {"outcome": "refused"}).json()
    assert [(r["license"], r["key"], r["message"]) for r in results["results"]] == [
        (waiting.pk, waiting.key, "Cannot renew a license that is Pending Provision.")
    ]


def test_the_api_freezes_filters_to_the_licenses_the_caller_sees(world, api):
    denied = make_license(world, S.ACCESS_DENIED, before_denial=S.IN_USE)
    make_license(world, S.IN_USE)
    other_license(world, S.ACCESS_DENIED)
    response = api(world.dist_admin).post(
        API, {"action": "restore", "filters": {"status": ["access_denied"]}}, format="json"
    )
    assert response.status_code == 202, response.content
    job = BulkJob.objects.get()
    assert list(job.items.values_list("license_id", flat=True)) == [denied.pk]
    assert job.filters == "status=access_denied"


@pytest.mark.parametrize(
    "body, field",
    [
        ({"action": "renew", "ids": ["ID"]}, "years"),
        ({"action": "renew", "ids": ["ID"], "years": 6}, "years"),
        ({"action": "deny", "ids": ["ID"]}, "reason"),
        ({"action": "fly", "ids": ["ID"]}, "action"),
        ({"action": "deny", "reason": "x"}, "ids"),
        ({"action": "deny", "reason": "x", "ids": []}, "ids"),
        ({"action": "deny", "reason": "x", "ids": ["ID"], "filters": {}}, "ids"),
        ({"action": "deny", "reason": "x", "ids": ["OTHER"]}, "ids"),
        ({"action": "deny", "reason": "x", "ids": [2**63]}, "ids"),
        ({"action": "deny", "reason": "x", "filters": {"bogus": "1"}}, "filters"),
        ({"action": "deny", "reason": "x", "filters": {"status": "nope"}}, "filters"),
        ({"action": "deny", "reason": "x", "filters": {"status": {"a": 1}}}, "filters"),
        ({"action": "deny", "reason": "x", "filters": "status=in_use"}, "filters"),
    ],
)
def test_the_api_refuses_bad_input_with_a_400_and_stores_nothing(world, api, body, field):
    license, other = make_license(world, S.IN_USE), other_license(world)
    swap = {"ID": license.pk, "OTHER": other.pk}
    body = {k: [swap.get(v, v) for v in vs] if k == "ids" else vs for k, vs in body.items()}
    response = api(world.dist_admin).post(API, body, format="json")
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert any(name.split(".")[0] == field for name in response.json()["errors"]), response.json()
    assert nothing_stored()
