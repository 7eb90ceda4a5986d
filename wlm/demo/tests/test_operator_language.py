"""``seed_demo`` talks to the operator in the terminal's language (LANGUAGE, LC_ALL,
LC_MESSAGES, LANG), whatever the product's default."""

import io

import pytest
from django.core.management import ManagementUtility, call_command
from django.utils import translation

from wlm.lib.languages import of_operator
from wlm.tests.i18n import spanish


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, "en"),
        ({"LANG": "C.UTF-8"}, "en"),
        ({"LANG": "POSIX"}, "en"),
        ({"LANG": "es_ES.UTF-8"}, "es"),
        ({"LANG": "es_MX"}, "es"),
        ({"LANG": "es_ES.UTF-8@euro"}, "es"),
        ({"LANG": "fr_FR.UTF-8"}, "en"),
        ({"LANG": "es_ES.UTF-8", "LC_MESSAGES": "en_GB.UTF-8"}, "en"),
        ({"LANG": "en_US.UTF-8", "LC_ALL": "es_ES.UTF-8"}, "es"),
        ({"LANG": "en_US.UTF-8", "LANGUAGE": "es:en"}, "es"),
        ({"LANG": "es_ES.UTF-8", "LANGUAGE": ""}, "es"),
    ],
)
def test_the_operators_language_is_read_as_posix_tools_read_it(environ, expected):
    assert of_operator(environ) == expected


def _terminal(monkeypatch, lang):
    for name in ("LANGUAGE", "LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LANG", lang)


def _seed(*args) -> str:
    out = io.StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_seed_demo_prints_spanish_in_a_spanish_terminal(monkeypatch):
    _terminal(monkeypatch, "es_ES.UTF-8")
    printed = _seed()
    assert spanish("Demo data ready.") in printed
    assert "Demo data ready." not in printed
    assert translation.get_language() == "en"  # the command's language stays its own


@pytest.mark.django_db
def test_seed_demo_prints_english_in_an_english_or_c_terminal(monkeypatch):
    for lang in ("en_US.UTF-8", "C.UTF-8"):
        _terminal(monkeypatch, lang)
        printed = _seed("--logins-only")
        assert "Demo logins (password" in printed
        assert spanish("Demo logins (password %(password)s):").split("%")[0] not in printed


def test_seed_demo_help_is_in_the_terminals_language(monkeypatch, capsys):
    _terminal(monkeypatch, "es_ES.UTF-8")
    with pytest.raises(SystemExit):
        ManagementUtility(["manage.py", "seed_demo", "--help"]).execute()
    assert spanish("Only print the demo logins.") in capsys.readouterr().out
