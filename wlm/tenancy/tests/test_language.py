"""Which language a person reads (wlm.tenancy.language): a logged-in user's own setting,
chosen on the profile page or by the header's switch and effective on the next page; the
browser's Accept-Language (or the switch's cookie) when nobody is logged in; an API client
by token reads its user's language."""

from __future__ import annotations

import pytest

from wlm.tenancy.models import Membership
from wlm.tests.i18n import spanish

pytestmark = pytest.mark.django_db


def set_language(user, language: str) -> None:
    Membership.objects.filter(user=user).update(language=language)


def page(client, user, url: str = "/", **headers) -> str:
    client.force_login(user)
    response = client.get(url, **headers)
    assert response.status_code == 200
    return response.content.decode()


def test_a_user_reads_their_own_language_whatever_the_browser_says(client, world):
    set_language(world.dist_admin, "es")
    text = page(client, world.dist_admin, "/", HTTP_ACCEPT_LANGUAGE="en")
    assert spanish("Dashboard") in text
    assert '<html lang="es"' in text
    set_language(world.dist_admin, "en")
    text = page(client, world.dist_admin, "/", HTTP_ACCEPT_LANGUAGE="es")
    assert "Dashboard" in text and '<html lang="en"' in text


def test_nobody_logged_in_reads_the_browsers_language(client):
    response = client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="es-ES,es;q=0.9")
    assert spanish("Log in") in response.content.decode()
    assert response["Content-Language"] == "es"
    response = client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="fr")
    assert response["Content-Language"] == "en"  # the default for any other language


def test_the_switch_changes_the_users_setting_and_the_next_page(client, world):
    client.force_login(world.org_admin)
    response = client.post("/language/", {"language": "es", "next": "/licenses/"})
    assert response.status_code == 302 and response["Location"] == "/licenses/"
    assert Membership.objects.get(user=world.org_admin).language == "es"
    assert spanish("Licenses") in client.get("/licenses/").content.decode()


@pytest.mark.parametrize(
    ("form", "back"),
    [
        ({"language": "de", "next": "/licenses/"}, "/licenses/"),  # unknown: nothing changes
        ({"language": "es", "next": "https://evil.example/"}, "/"),  # not ours: home
        ({"language": "es", "next": "//evil.example/"}, "/"),
    ],
)
def test_the_switch_refuses_what_it_does_not_know(client, world, form, back):
    client.force_login(world.org_admin)
    response = client.post("/language/", form)
    assert response.status_code == 302 and response["Location"] == back
    expected = "es" if form["language"] == "es" else "en"
    assert Membership.objects.get(user=world.org_admin).language == expected


def test_an_anonymous_switch_keeps_the_choice_in_a_cookie(client):
    response = client.post("/language/", {"language": "es", "next": "/accounts/login/"})
    assert response.cookies["django_language"].value == "es"
    assert response.cookies["django_language"]["httponly"]
    text = client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert spanish("Log in") in text


def test_the_switch_takes_only_posts(client, world):
    client.force_login(world.org_admin)
    assert client.get("/language/?language=es").status_code == 405
    assert Membership.objects.get(user=world.org_admin).language == "en"


def test_the_profile_page_saves_the_language(client, world):
    text = page(client, world.partner_admin, "/profile/")
    assert world.partner_admin.username in text
    response = client.post("/profile/", {"language": "es"})
    assert response.status_code == 302
    assert Membership.objects.get(user=world.partner_admin).language == "es"
    text = client.get("/profile/").content.decode()
    assert spanish("Your profile") in text
    assert spanish("Your language is saved.") in text
    assert client.post("/profile/", {"language": "xx"}).status_code == 400
    assert Membership.objects.get(user=world.partner_admin).language == "es"


def test_the_profile_needs_a_login(client):
    response = client.get("/profile/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_an_api_client_by_token_reads_its_users_language(api, world):
    set_language(world.dist_admin, "es")
    response = api(world.dist_admin).get("/api/v1/licenses/", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    assert response["Content-Language"] == "es"
    anonymous = api().get("/api/v1/licenses/", HTTP_ACCEPT_LANGUAGE="es")
    assert anonymous.status_code == 401
    assert anonymous["Content-Language"] == "es"


def test_dates_read_dd_mm_yyyy_in_spanish_and_iso_in_english(client, world):
    import datetime as dt

    from wlm.licenses.models import LicenseStatus
    from wlm.licenses.tests.test_lifecycle import make_license

    license = make_license(world, LicenseStatus.IN_USE)
    end = license.end_date
    assert isinstance(end, dt.date)
    english = page(client, world.dist_admin, f"/licenses/{license.pk}/")
    assert end.isoformat() in english
    assert "UTC" in english  # times say their zone
    set_language(world.dist_admin, "es")
    spanish_page = page(client, world.dist_admin, f"/licenses/{license.pk}/")
    assert end.strftime("%d/%m/%Y") in spanish_page
    assert end.isoformat() not in spanish_page.replace(f'"{end.isoformat()}', "")
    listing = page(client, world.dist_admin, "/licenses/")
    assert end.strftime("%d/%m/%Y") in listing


def test_a_date_is_typed_as_the_readers_language_writes_it(client, world):
    from wlm.licenses.models import LicenseStatus
    from wlm.licenses.tests.test_lifecycle import make_license

    license = make_license(world, LicenseStatus.IN_USE)
    end = license.end_date
    set_language(world.dist_admin, "es")
    client.force_login(world.dist_admin)
    spanish_day = end.strftime("%d/%m/%Y")
    response = client.get(f"/licenses/?end_after={spanish_day}&end_before={spanish_day}")
    text = response.content.decode()
    assert response.status_code == 200 and f'data-key="{license.key}"' in text
    assert f'value="{spanish_day}"' in text and 'placeholder="dd/mm/aaaa"' in text
    iso = client.get(f"/licenses/?end_after={end.isoformat()}")  # links and APIs: ISO too
    assert f'data-key="{license.key}"' in iso.content.decode()
    set_language(world.dist_admin, "en")
    english = client.get(f"/licenses/?end_after={spanish_day}")
    assert 'placeholder="yyyy-mm-dd"' in english.content.decode()
    assert f'data-key="{license.key}"' not in english.content.decode()  # not a date in English


def test_the_api_schema_describes_errors_in_the_readers_language(client):
    spanish_schema = client.get("/api/v1/schema/?format=json", HTTP_ACCEPT_LANGUAGE="es").json()
    english_schema = client.get("/api/v1/schema/?format=json", HTTP_ACCEPT_LANGUAGE="en").json()
    operation = spanish_schema["paths"]["/api/v1/licenses/"]["get"]
    assert operation["responses"]["404"]["description"] == spanish(
        "Not found, or not visible to this user."
    )
    english = english_schema["paths"]["/api/v1/licenses/"]["get"]["responses"]["404"]
    assert english["description"] == "Not found, or not visible to this user."
