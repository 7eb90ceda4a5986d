"""The API's documentation speaks the reader's language: every operation has a summary,
every section a description, from wlm/lib/schema.py's catalogue of texts."""

import pytest
from django.utils import translation

from wlm.lib.schema import DESCRIPTION, RESOURCES, SUMMARIES, TOKEN_AUTH
from wlm.tests.i18n import spanish

pytestmark = pytest.mark.django_db

METHODS = {"get", "post", "put", "patch", "delete"}


def _schema(client, language: str) -> dict:
    answer = client.get("/api/v1/schema/?format=json", HTTP_ACCEPT_LANGUAGE=language)
    assert answer.status_code == 200
    return answer.json()


def _operations(schema: dict):
    for item in schema["paths"].values():
        for method, operation in item.items():
            if method in METHODS:
                yield operation


def test_every_operation_has_its_own_summary_and_its_sections_description(client):
    schema = _schema(client, "en")
    operations = list(_operations(schema))
    assert {op["operationId"] for op in operations} == set(SUMMARIES)  # none missing, none stale
    for operation in operations:
        assert operation["summary"] == str(SUMMARIES[operation["operationId"]])
        (tag,) = operation["tags"]
        assert operation["description"] == str(RESOURCES[tag])
    assert {tag["name"] for tag in schema["tags"]} == set(RESOURCES)
    assert "Accept-Language" in schema["info"]["description"]


def _in_spanish(text) -> str:
    with translation.override("en"):  # a request leaves its language active
        return spanish(str(text))


def test_the_schema_reads_spanish_to_a_spanish_reader(client):
    schema = _schema(client, "es")
    for operation in _operations(schema):
        assert operation["summary"] == _in_spanish(SUMMARIES[operation["operationId"]])
    for tag in schema["tags"]:
        assert tag["description"] == _in_spanish(RESOURCES[tag["name"]])
    assert schema["info"]["description"] == _in_spanish(DESCRIPTION)
    token = schema["components"]["securitySchemes"]["tokenAuth"]["description"]
    assert token == _in_spanish(TOKEN_AUTH)
