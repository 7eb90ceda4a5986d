"""The Spanish catalogue is complete and current (docs/i18n.md): every string marked for
translation in the code and templates has a Spanish translation, none fuzzy, none left
over from strings that are gone, the placeholders match, and plurals have Spanish's
forms."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import translation

ROOT = Path(settings.BASE_DIR)
CATALOGUE = ROOT / "locale" / "es" / "LC_MESSAGES" / "django.po"
# what `make catalogue` reads: the code and the templates (docs/i18n.md)
SOURCES = ("wlm", "templates", "manage.py", "locale")


def gettext_tool(*args: str) -> subprocess.CompletedProcess:
    tool = shutil.which(args[0])
    if tool is None:
        pytest.fail(f"{args[0]} is missing: `make test` installs Debian's gettext package")
    return subprocess.run([tool, *args[1:]], capture_output=True, text=True)


def entries(option: str, catalogue: Path) -> str:
    """The entries of ``catalogue`` that ``msgattrib <option>`` selects ('' when none)."""
    found = gettext_tool("msgattrib", option, str(catalogue))
    assert found.returncode == 0, found.stderr
    return found.stdout


def test_the_catalogue_compiles_with_matching_placeholders():
    checked = gettext_tool("msgfmt", "--check", "--statistics", "-o", "/dev/null", str(CATALOGUE))
    assert checked.returncode == 0, checked.stderr
    assert "fuzzy" not in checked.stderr and "untranslated" not in checked.stderr, checked.stderr


def test_every_entry_is_translated_and_none_is_fuzzy_or_obsolete():
    assert entries("--untranslated", CATALOGUE) == ""
    assert entries("--only-fuzzy", CATALOGUE) == ""
    assert entries("--only-obsolete", CATALOGUE) == ""


def test_the_catalogue_holds_exactly_what_the_code_marks(tmp_path):
    """makemessages run on a copy of the sources: no new string untranslated, no entry for a
    string that is gone (it would turn obsolete), nothing merged as a fuzzy guess."""
    for name in SOURCES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, tmp_path / name, ignore=shutil.ignore_patterns("*.mo"))
        else:
            shutil.copy2(source, tmp_path / name)
    made = subprocess.run(
        [sys.executable, "manage.py", "makemessages", "-l", "es", "--no-location"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "DATA_DIR": str(tmp_path / "data")},
    )
    assert made.returncode == 0, made.stderr
    fresh = tmp_path / "locale" / "es" / "LC_MESSAGES" / "django.po"
    assert entries("--untranslated", fresh) == "", "marked but not translated"
    assert entries("--only-fuzzy", fresh) == "", "merged as a guess"
    assert entries("--only-obsolete", fresh) == "", "translated but no longer marked"


def test_spanish_plurals_have_three_forms_and_render():
    header = CATALOGUE.read_text().split("\n\n", 1)[0]
    assert "nplurals=3;" in header  # as Django's own Spanish catalogue
    with translation.override("es"):
        one = translation.ngettext("%(years)d year", "%(years)d years", 1) % {"years": 1}
        many = translation.ngettext("%(years)d year", "%(years)d years", 3) % {"years": 3}
        million = translation.ngettext("%(years)d year", "%(years)d years", 1_000_000) % {
            "years": 1_000_000
        }
    assert (one, many) == ("1 año", "3 años")
    assert million == "1000000 de años"  # Spanish's third form: "un millón de años"
