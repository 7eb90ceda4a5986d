"""A user's bulk jobs (docs/lifecycle.md, "Bulk changes"; docs/pages.md, "Bulk actions"):
``GET /api/v1/licenses/bulk/`` and the page ``/licenses/bulk/jobs/`` list the jobs the
user asked for, newest first, with their state, progress and counts (staff: everyone's,
with who asked), linked from the licenses page; the admin shows jobs read only. And the
licenses filter panel's "Near their limit" box (the dashboard's link)."""

import datetime as dt
import re

import pytest
import time_machine
from rest_framework.test import APIClient

from wlm.licenses import bulk
from wlm.licenses.models import BulkJob, LicenseStatus
from wlm.licenses.tests.test_lifecycle import make_license

pytestmark = pytest.mark.django_db

S = LicenseStatus
NOW = dt.datetime(2027, 3, 10, 12, 0, tzinfo=dt.UTC)
API = "/api/v1/licenses/bulk/"
PAGE = "/licenses/bulk/jobs/"


@pytest.fixture(autouse=True)
def _at_now():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def api():
    """``api(user)``: an API client signed in as ``user``."""

    def client_for(user=None) -> APIClient:
        client = APIClient()
        if user is not None:
            client.force_authenticate(user)
        return client

    return client_for


@pytest.fixture
def jobs(world):
    """The distributor's admin renewed two licenses (one refused: pending provision) and
    then denied one, not yet worked; staff denied another."""
    in_use = make_license(world, S.IN_USE)
    waiting = make_license(world, S.PENDING_PROVISION)
    renewal = bulk.create_job(world.dist_admin, "renew", [in_use.pk, waiting.pk], years=1)
    bulk.work()
    with time_machine.travel(NOW + dt.timedelta(minutes=5), tick=False):
        denial = bulk.create_job(world.dist_admin, "deny", [in_use.pk], reason="unpaid")
        staffs = bulk.create_job(world.staff, "deny", [in_use.pk], reason="audit")
    return {"renewal": renewal, "denial": denial, "staff": staffs}


def text(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


# --- The API ---------------------------------------------------------------------------


def test_the_api_lists_the_callers_jobs_newest_first(world, api, jobs):
    body = api(world.dist_admin).get(API).json()
    assert [row["id"] for row in body["results"]] == [jobs["denial"].pk, jobs["renewal"].pk]
    renewal = body["results"][1]
    assert renewal["owner"] == "dist_admin"
    assert (renewal["action"], renewal["years"], renewal["state"]) == ("renew", 1, "finished")
    assert (renewal["total"], renewal["done"], renewal["refused"], renewal["pending"]) == (
        2,
        1,
        1,
        0,
    )
    assert renewal["page"].endswith(f"/licenses/bulk/{jobs['renewal'].pk}/")
    assert renewal["results"].endswith(f"/api/v1/licenses/bulk/{jobs['renewal'].pk}/results/")
    denial = body["results"][0]
    assert (denial["state"], denial["pending"], denial["reason"]) == ("queued", 1, "unpaid")


def test_the_api_list_filters_by_state_and_action(world, api, jobs):
    client = api(world.dist_admin)
    finished = client.get(API, {"state": "finished"}).json()["results"]
    assert [row["id"] for row in finished] == [jobs["renewal"].pk]
    denials = client.get(API, {"action": "deny"}).json()["results"]
    assert [row["id"] for row in denials] == [jobs["denial"].pk]
    assert client.get(API, {"state": "nope"}).status_code == 400


def test_the_api_shows_each_license_result_with_its_reason(world, api, jobs):
    results = api(world.dist_admin).get(f"{API}{jobs['renewal'].pk}/results/").json()["results"]
    assert [row["outcome"] for row in results] == ["done", "refused"]
    assert results[0]["message"] == "" and results[1]["message"] != ""


@pytest.mark.parametrize("person", ["dist_viewer", "other_dist_admin", "org_admin"])
def test_others_see_none_of_the_jobs(world, api, jobs, person):
    client = api(getattr(world, person))
    assert client.get(API).json()["results"] == []
    assert client.get(f"{API}{jobs['renewal'].pk}/").status_code == 404


@pytest.mark.parametrize("person", ["staff", "staff_viewer"])
def test_staff_see_every_job(world, api, jobs, person):
    body = api(getattr(world, person)).get(API).json()
    assert {row["id"] for row in body["results"]} == {job.pk for job in jobs.values()}
    assert api(getattr(world, person)).get(f"{API}{jobs['renewal'].pk}/").status_code == 200


def test_the_api_list_needs_a_person(world, api, jobs):
    assert api().get(API).status_code == 401
    assert api(world.gateway).get(API).status_code == 403


# --- The page ---------------------------------------------------------------------------


def rows(page: str) -> list[tuple[str, str]]:
    return re.findall(r'<tr data-id="(\d+)" data-state="(\w+)">', page)


def test_the_page_lists_the_users_jobs_with_their_progress(client, world, jobs):
    client.force_login(world.dist_admin)
    page = text(client.get(PAGE))
    assert "My bulk jobs" in page
    assert rows(page) == [(str(jobs["denial"].pk), "queued"), (str(jobs["renewal"].pk), "finished")]
    assert "Renew by 1 year: 2 licenses" in page and "Deny access: 1 license" in page
    assert f'href="/licenses/bulk/{jobs["renewal"].pk}/?outcome=refused">1</a>' in page
    assert '<progress value="2" max="2"' in page
    assert "Asked by" not in page
    # a job not finished: the list asks for itself again
    assert 'hx-trigger="every 3s"' in page


def test_the_page_of_staff_lists_everyones_jobs_with_who_asked(client, world, jobs):
    client.force_login(world.staff_viewer)
    page = text(client.get(PAGE))
    assert "Bulk jobs" in page and "Asked by" in page
    assert {job for job, _state in rows(page)} == {str(job.pk) for job in jobs.values()}
    assert "dist_admin" in page


def test_the_page_without_jobs_says_how_to_make_one(client, world):
    client.force_login(world.partner_admin)
    page = text(client.get(PAGE))
    assert rows(page) == []
    assert "No bulk changes yet" in page
    assert "every 3s" not in page


def test_the_htmx_refresh_answers_the_table_only(client, world, jobs):
    client.force_login(world.dist_admin)
    page = text(client.get(PAGE, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="bulk-jobs"))
    assert page.startswith('<section id="bulk-jobs"') and "<html" not in page


def test_the_page_needs_login(client, world):
    response = client.get(PAGE)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize(
    ("person", "linked"),
    [
        ("dist_admin", True),
        ("staff", True),
        ("staff_viewer", True),
        ("partner_admin", False),  # a role with no bulk change to take
        ("dist_viewer", False),
    ],
)
def test_the_licenses_page_links_to_the_jobs(client, world, person, linked):
    client.force_login(getattr(world, person))
    page = text(client.get("/licenses/"))
    assert ('data-testid="bulk-jobs-link"' in page) is linked
    if linked:
        assert f'href="{PAGE}"' in page


def test_a_jobs_page_links_back_to_the_jobs(client, world, jobs):
    client.force_login(world.dist_admin)
    page = text(client.get(f"/licenses/bulk/{jobs['renewal'].pk}/"))
    assert f'href="{PAGE}"' in page


# --- The admin ----------------------------------------------------------------------------


def test_the_admin_shows_jobs_read_only(client, world, jobs):
    from django.contrib.auth import get_user_model

    root = get_user_model().objects.create_superuser("root", "root@example.com", "x")
    client.force_login(root)
    listing = text(client.get("/admin/licenses/bulkjob/"))
    assert "dist_admin" in listing
    job = jobs["renewal"]
    detail = client.get(f"/admin/licenses/bulkjob/{job.pk}/change/")
    assert detail.status_code == 200
    assert 'name="_save"' not in detail.content.decode()
    assert client.get("/admin/licenses/bulkjob/add/").status_code == 403
    assert (
        client.post(f"/admin/licenses/bulkjob/{job.pk}/delete/", {"post": "yes"}).status_code == 403
    )
    assert BulkJob.objects.filter(pk=job.pk).exists()


# --- Near their limit: the filter panel's box -------------------------------------------


def near_box(page: str) -> str:
    return re.search(
        r'<div class="filter-checkbox" data-testid="near-limit-filter">.*?</div>', page, re.S
    ).group(0)


def test_the_filter_panel_has_a_near_limit_box_that_the_dashboards_link_checks(client, world):
    near = make_license(world, S.IN_USE)
    near.limit = 1  # the hotel's one room of one: 100%
    near.save(update_fields=["limit"])
    far = make_license(world, S.IN_USE)  # one room of ten
    client.force_login(world.dist_admin)
    page = text(client.get("/licenses/"))
    box = near_box(page)
    assert 'type="checkbox" name="near_limit" value="true"' in box and "checked" not in box
    assert "Near their limit" in box
    assert near.key in page and far.key in page
    page = text(client.get("/licenses/", {"near_limit": "true"}))
    assert "checked" in near_box(page)
    assert near.key in page and far.key not in page
    # the box unchecked sends nothing: every license again
    page = text(client.get("/licenses/", {"q": ""}))
    assert near.key in page and far.key in page
