"""Every page, as each kind of tenant sees it with the demo data, says nothing of ours in
English when the user reads Spanish (docs/i18n.md, "Kept complete"): a string left
unmarked, or marked but untranslated, shows as an English word here. And the other way:
an English reader sees no word of our Spanish.

The English words looked for are every word of our catalogue's English that its Spanish
never uses (so "Total" or "PDF" are not taken for English), and a few common words. What
the data says (names, addresses, reasons typed by users, keys) is taken out of the page
first: it is shown as typed, in whatever language it was typed.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import models

from wlm.licenses import lifecycle
from wlm.licenses.models import License, LicenseRequest, LicenseStatus
from wlm.licenses.views.licenses import TABS
from wlm.locations.models import Location
from wlm.tenancy.models import Membership

pytestmark = pytest.mark.django_db

CATALOGUE = Path(settings.BASE_DIR) / "locale" / "es" / "LC_MESSAGES" / "django.po"
COMMON = {"the", "and", "with", "from", "this", "that", "your", "have", "been", "will", "when"}
# Words both languages write alike or that are names of things, not English sentences
SHARED = {"wifi", "license", "manager"}  # the product's name, "WiFi License Manager"
WORD = re.compile(r"[A-Za-zÁÉÍÓÚÜÑáéíóúüñ]{3,}")


def _entries() -> list[tuple[str, str]]:
    """(English, Spanish) of every entry: all msgid/msgid_plural and msgstr texts."""
    text = CATALOGUE.read_text()
    pairs = []
    for block in text.split("\n\n")[1:]:
        english, spanish = [], []
        current = None
        for line in block.splitlines():
            if line.startswith("msgid"):
                current = english
            elif line.startswith("msgstr"):
                current = spanish
            elif not line.startswith('"'):
                continue
            match = re.search(r'"(.*)"$', line)
            if current is not None and match:
                current.append(match.group(1))
        pairs.append((" ".join(english), " ".join(spanish)))
    return pairs


# not words a person reads: placeholders (%(licenses)s), paths and addresses, and a
# signed license's fingerprint (five groups of four hex digits, made at each view: "3BAD
# FACE …" held an English word now and then — wlm.licenses.signing.fingerprint)
NOT_WORDS = re.compile(r"%\(\w+\)\w|\S*/\S*|<[^>]*>|(?<!\w)[0-9A-F]{4}(?: [0-9A-F]{4}){4}(?!\w)")


def _words(text: str) -> set[str]:
    return {word.lower() for word in WORD.findall(NOT_WORDS.sub(" ", text))}


def english_words() -> set[str]:
    pairs = _entries()
    spanish = set().union(*(_words(text) for _english, text in pairs))
    english = set().union(*(_words(text) for text, _spanish in pairs))
    return (english - spanish - SHARED) | COMMON


def spanish_words() -> set[str]:
    """Words of our Spanish that our English never uses: what an English reader must not
    see."""
    pairs = _entries()
    spanish = set().union(*(_words(text) for _english, text in pairs))
    english = set().union(*(_words(text) for text, _spanish in pairs))
    return spanish - english - SHARED


def data_strings() -> re.Pattern:
    """Every stored text of our models (3 characters or more), as whole words, longest
    first (so a name is removed whole)."""
    from django.apps import apps

    found: set[str] = set()
    for model in apps.get_models():
        if not model.__module__.startswith("wlm."):
            continue
        fields = [
            field.name
            for field in model._meta.concrete_fields
            if isinstance(field, models.CharField | models.TextField | models.EmailField)
        ]
        if fields:
            for row in model.objects.values_list(*fields):
                found.update(value for value in row if isinstance(value, str) and value)
    from django.contrib.auth import get_user_model

    found.update(get_user_model().objects.values_list("username", flat=True))
    found.update(get_user_model().objects.values_list("email", flat=True))
    values = sorted((value for value in found if len(value) >= 3), key=len, reverse=True)
    return re.compile(r"(?<!\w)(?:" + "|".join(map(re.escape, values)) + r")(?!\w)")


def readable_text(page: str) -> str:
    """What a person reads: text and the attributes that are shown or spoken."""
    page = re.sub(r"(?is)<(script|style)\b.*?</\1>", " ", page)
    page = re.sub(r"(?is)<code\b.*?</code>", " ", page)  # keys, ids, tokens
    # what is marked as another language on purpose: the switch's "English" or "Español"
    # (an element inside the page: not <html lang="…"> itself)
    page = re.sub(r'(?is)<(?!html\b)(\w+)\b[^>]*\blang="(?:en|es)"[^>]*>.*?</\1>', " ", page)
    assert "</body>" not in page or "<body" in page
    # Django's admin writes its search icon's alt="Search" untranslated (its own template)
    page = re.sub(r'<img src="/static/admin/img/search.svg"[^>]*>', " ", page)
    shown = re.findall(r'(?i)\b(?:title|placeholder|aria-label|alt)="([^"]*)"', page)
    text = re.sub(r"(?s)<[^>]+>", " ", page)
    return html.unescape(" ".join([text, *shown]))


def words_in(page: str, data: re.Pattern, words: set[str]) -> set[str]:
    text = NOT_WORDS.sub(" ", data.sub(" ", readable_text(page)))
    return {word for word in WORD.findall(text) if word.lower() in words}


@pytest.fixture
def demo_in_spanish(db):
    call_command("seed_demo", verbosity=0, stdout=open("/dev/null", "w"))  # noqa: SIM115
    Membership.objects.update(language="es")
    # installation mode's words: the hotels in installation, one with an end, and a
    # partner's installer device
    from wlm.connections.models import InstallerDevice
    from wlm.lib import clock

    now = clock.now()
    hotels = Location.objects.filter(organization__name="Hotel Mar Azul").order_by("name")
    hotels.update(installation_since=now)
    hotels.filter(pk=hotels[0].pk).update(installation_until=now + dt.timedelta(days=3))
    partner = hotels[0].organization.partner
    InstallerDevice.objects.create(partner=partner, device="0" * 64, label="Lab", created=now)


def urls_for(user) -> list[str]:
    urls = ["/", "/licenses/", "/licenses/?status=in_use&ordering=end_date", "/locations/"]
    urls += ["/requests/", "/inbox/", "/profile/", "/tokens/", "/verify/", "/no-such-page/"]
    visible = License.objects.visible_to(user)
    for status in LicenseStatus.values:
        license = visible.filter(status=status).first()
        if license is None:
            continue
        urls += [f"/licenses/{license.pk}/?tab={tab}" for tab, _label in TABS]
        for action in lifecycle.available_actions(license, user, managed=True):
            if action != "unassign":
                urls.append(f"/licenses/{license.pk}/{action}/")
    for request in LicenseRequest.objects.visible_to(user).filter(state="pending")[:1]:
        urls += [f"/requests/{request.pk}/approve/", f"/requests/{request.pk}/reject/"]
    location = Location.objects.visible_to(user).first()
    if location is not None:
        urls.append(f"/locations/{location.pk}/send-key/")
    # installation mode: a hotel's page (in installation) and the installer devices
    for hotel in Location.objects.visible_to(user).filter(installation_since__isnull=False):
        urls.append(f"/locations/{hotel.pk}/installation/")
    urls.append("/installer-devices/")
    urls.append("/requests/new/")
    urls.append("/settings/")  # staff: the tenant chooser; a tenant's user: a redirect to…
    membership = getattr(user, "membership", None)
    if membership is not None and membership.tenant_id is not None:
        urls.append(f"/settings/{membership.tenant_type}/{membership.tenant_id}/")  # …this
    if user.is_staff:  # the admin: Django's words and ours (model and field names)
        urls.append("/admin/")
        for model in ("tenancy/membership", "licenses/license", "licenses/licenseevent"):
            urls += [f"/admin/{model}/", f"/admin/{model}/add/"]
    return urls


READERS = ["staff", "iberia", "costa", "marazul"]


@pytest.mark.parametrize("username", READERS)
def test_a_spanish_reader_sees_no_english_word_of_ours(client, demo_in_spanish, username):
    assert_no_words_of_the_other_language(client, username, "es", english_words())


@pytest.mark.parametrize("username", READERS)
def test_an_english_reader_sees_no_spanish_word_of_ours(client, demo_in_spanish, username):
    Membership.objects.update(language="en")
    assert_no_words_of_the_other_language(client, username, "en", spanish_words())


def assert_no_words_of_the_other_language(client, username: str, language: str, words):
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.get(username=username)
    client.force_login(user)
    data = data_strings()
    found = {}
    for url in urls_for(user):
        response = client.get(url)
        if response.status_code in (302, 403, 405):
            continue  # not a page this user has
        assert response["Content-Language"] == language, url
        foreign = words_in(response.content.decode(), data, words)
        if foreign:
            found[url] = sorted(foreign)
    assert found == {}
