"""Saved views (docs/pages.md, "Lists and exports"): a user names the filters of the
licenses, locations or requests list and finds them in that list's "Views" menu; the
query is checked by the list's FilterSet when saved; each user sees and deletes only
their own; a duplicate name is a 409 on the form; nothing is stored on a refusal."""

import re

import pytest
from django.test import Client

from wlm.licenses.models import LicenseStatus
from wlm.licenses.tests.test_lifecycle import make_license
from wlm.tenancy.models import SavedView

pytestmark = pytest.mark.django_db

S = LicenseStatus
LISTS = {
    "licenses": ("/licenses/", "status=in_use&ordering=-end_date"),
    "locations": ("/locations/", "sector=retail&ordering=name"),
    "requests": ("/requests/", "state=pending&state=approved"),
}


def save(client, user, list_name, name, query, **extra):
    client.force_login(user)
    url, _query = LISTS[list_name]
    return client.post(f"{url}views/", {"name": name, "query": query, **extra})


def menu(client, user, list_name, query="") -> list[tuple[str, str]]:
    """The "Views" menu of the list page: (name, link) of each saved view."""
    client.force_login(user)
    url, _query = LISTS[list_name]
    response = client.get(url + (f"?{query}" if query else ""))
    if response.status_code == 302:  # a distributor's bare requests list: its queue
        response = client.get(response["Location"])
    assert response.status_code == 200
    text = response.content.decode()
    assert 'data-testid="saved-views"' in text
    return [
        (name, href.replace("&amp;", "&"))
        for href, name in re.findall(
            r'<a href="([^"]*)" data-testid="saved-view-open">([^<]*)</a>', text
        )
    ]


@pytest.mark.parametrize("list_name", sorted(LISTS))
def test_save_then_find_open_and_delete_a_view(client, world, list_name):
    url, query = LISTS[list_name]
    response = save(client, world.dist_admin, list_name, "Mine", query + "&page=3")
    assert response.status_code == 302
    assert response["Location"] == f"{url}?{query}"  # the list, with the view's filters
    view = SavedView.objects.get()
    assert (view.owner, view.list_name, view.name, view.query) == (
        world.dist_admin,
        list_name,
        "Mine",
        query,  # where the list was (page) is not part of the view
    )
    assert menu(client, world.dist_admin, list_name) == [("Mine", f"{url}?{query}")]
    # the other lists' menus do not show it
    for other in set(LISTS) - {list_name}:
        assert menu(client, world.dist_admin, other) == []
    # delete, and back to the list as it was
    client.force_login(world.dist_admin)
    response = client.post(f"{url}views/{view.pk}/delete/", {"query": "q=back&page=2"})
    assert response.status_code == 302
    assert response["Location"] == f"{url}?q=back"
    assert not SavedView.objects.exists()
    assert menu(client, world.dist_admin, list_name) == []


def test_opening_a_view_shows_the_lists_rows_with_its_filters(client, world):
    in_use = make_license(world, S.IN_USE)
    make_license(world, S.ACCESS_DENIED)
    save(client, world.dist_admin, "licenses", "In use", "status=in_use")
    [(name, href)] = menu(client, world.dist_admin, "licenses")
    assert (name, href) == ("In use", "/licenses/?status=in_use")
    body = client.get(href).content.decode()
    assert re.findall(r'<tr data-key="([^"]+)"', body) == [in_use.key]


def test_the_menu_keeps_the_current_filters_to_save(client, world):
    client.force_login(world.org_admin)
    body = client.get("/licenses/", {"status": "in_use", "page": "1"}).content.decode()
    form = re.search(r'<form method="post" action="/licenses/views/".*?</form>', body, re.S)
    assert 'name="query" value="status=in_use"' in form.group(0)
    assert "csrfmiddlewaretoken" in form.group(0)
    # the htmx fragment (filters changed without a page load) carries the new query
    body = client.get(
        "/licenses/", {"status": "access_denied"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="results"
    ).content.decode()
    assert 'name="query" value="status=access_denied"' in body


def test_another_user_neither_sees_nor_deletes_a_view(client, world):
    save(client, world.dist_admin, "licenses", "Mine", "status=in_use")
    view = SavedView.objects.get()
    # the same tenant's other user, staff, and the platform's superuser-like admin
    for person in ("dist_viewer", "staff", "other_dist_admin", "org_admin"):
        user = getattr(world, person)
        assert menu(client, user, "licenses") == [], person
        client.force_login(user)
        response = client.post(f"/licenses/views/{view.pk}/delete/")
        assert response.status_code == 404, person
    # nor through another list's URL, even its owner
    client.force_login(world.dist_admin)
    assert client.post(f"/locations/views/{view.pk}/delete/").status_code == 404
    assert SavedView.objects.filter(pk=view.pk).exists()
    # and another user may use the same name
    assert save(client, world.dist_viewer, "licenses", "Mine", "").status_code == 302
    assert SavedView.objects.count() == 2


def test_a_duplicate_name_is_a_409_on_the_form_and_nothing_changes(client, world):
    assert (
        save(client, world.partner_admin, "licenses", "Renewals", "status=in_use").status_code
        == 302
    )
    response = save(client, world.partner_admin, "licenses", "Renewals", "status=access_denied")
    assert response.status_code == 409
    body = response.content.decode()
    assert "You already have a view with this name on this list." in body
    assert 'value="Renewals"' in body  # the form comes back filled
    assert SavedView.objects.get().query == "status=in_use"
    # the same name on another list is another view
    assert save(client, world.partner_admin, "locations", "Renewals", "").status_code == 302


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("status=bogus", "Status: Select a valid choice. bogus is not one of the available"),
        ("end_after=soon", "End date from: Enter a valid date."),
        ("aps=-1", "APs: Ensure this value is greater than or equal to 0."),
        ("colour=red", "Unknown filter: colour."),
        ("ordering=password", "This list cannot be sorted by “password”."),
        ("ordering=-bogus&status=in_use", "This list cannot be sorted by “-bogus”."),
        ("q=" + "x" * 201, "Search: Ensure this value has at most 200 characters"),
    ],
)
def test_a_bad_filter_is_a_400_that_says_which_and_nothing_is_stored(client, world, query, message):
    response = save(client, world.dist_admin, "licenses", "Bad", query)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not SavedView.objects.exists()


def test_a_filter_on_a_row_the_user_cannot_see_is_refused(client, world):
    # the other distributor is not visible to this one: like a missing id
    response = save(
        client, world.dist_admin, "licenses", "Theirs", f"distributor={world.other_dist.pk}"
    )
    assert response.status_code == 400
    assert "Distributor: Select a valid choice." in response.content.decode()
    response = save(
        client, world.other_dist_admin, "locations", "Theirs", f"organization={world.org.pk}"
    )
    assert response.status_code == 400
    assert not SavedView.objects.exists()
    # the staff see it: saved
    assert (
        save(
            client, world.staff, "licenses", "Theirs", f"distributor={world.other_dist.pk}"
        ).status_code
        == 302
    )


@pytest.mark.parametrize(
    ("name", "status"),
    [("", 400), ("two\nlines", 400), ("x" * 101, 400), ("Ünïcode ✓", 302)],
)
def test_the_name_is_one_line_of_at_most_100_characters(client, world, name, status):
    assert save(client, world.org_admin, "locations", name, "sector=retail").status_code == status
    assert SavedView.objects.exists() == (status == 302)


def test_the_save_page_shows_the_form_for_a_query(client, world):
    client.force_login(world.org_viewer)  # a viewer keeps views too: nothing of the tenant's
    response = client.get("/locations/views/", {"query": "sector=retail"})
    assert response.status_code == 200
    body = response.content.decode()
    assert 'name="query" value="sector=retail"' in body
    assert 'href="/locations/?sector=retail"' in body
    assert save(client, world.org_viewer, "locations", "Shops", "sector=retail").status_code == 302


def test_the_pages_need_a_login_csrf_and_post(world):
    anonymous = Client()
    for url in ("/licenses/views/", "/requests/views/1/delete/"):
        response = anonymous.post(url, {"name": "x", "query": ""})
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(world.dist_admin)
    assert strict.post("/licenses/views/", {"name": "x", "query": ""}).status_code == 403
    assert not SavedView.objects.exists()
    client = Client()
    client.force_login(world.dist_admin)
    assert client.get("/licenses/views/1/delete/").status_code == 405


def test_a_user_deleted_takes_its_views_along(client, world):
    save(client, world.org_viewer, "locations", "Shops", "sector=retail")
    world.org_viewer.delete()
    assert not SavedView.objects.exists()


def test_empty_fields_are_not_saved_and_all_states_stays_all_states(client, world):
    query = "q=&key=&status=in_use&end_after=&ordering=key"
    assert save(client, world.dist_admin, "licenses", "In use", query).status_code == 302
    assert SavedView.objects.get().query == "status=in_use&ordering=key"
    # the requests' "All states" (?q=): not the bare list, which is a distributor's queue
    response = save(client, world.dist_admin, "requests", "Everything", "q=")
    assert response["Location"] == "/requests/?q="
    client.force_login(world.dist_admin)
    assert client.get("/requests/?q=").status_code == 200
