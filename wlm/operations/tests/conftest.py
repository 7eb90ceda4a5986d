"""The lean path's front with a Django that must not be reached, and the metrics as a
scraper reads them."""

from __future__ import annotations

import json

import pytest
from django.test import RequestFactory
from prometheus_client.parser import text_string_to_metric_families

from wlm.dataplane.front import DataPlaneFront
from wlm.dataplane.tests.test_front import NotDjango, served
from wlm.operations import probes


@pytest.fixture
def front():
    return DataPlaneFront(NotDjango())


@pytest.fixture(autouse=True)
def _migrations_checked_again():
    """Each test finds the migrations as its database has them (not as a test before)."""
    probes.forget_migrations()
    yield
    probes.forget_migrations()


def get(front, path: str, **environ) -> tuple[int, dict, bytes]:
    return served(front, RequestFactory().get(path, **environ).environ)


def answer(front, path: str, **environ) -> tuple[int, dict, dict]:
    """(status, headers, the JSON body)."""
    status, headers, body = get(front, path, **environ)
    return status, headers, json.loads(body)


class Scrape:
    """One scrape of ``/metrics`` through the front (from 127.0.0.1), parsed as
    Prometheus parses it."""

    def __init__(self, front, **environ) -> None:
        environ.setdefault("REMOTE_ADDR", "127.0.0.1")
        status, headers, body = get(front, "/metrics", **environ)
        assert status == 200, body
        self.content_type = headers["content-type"]
        self.families = {f.name: f for f in text_string_to_metric_families(body.decode())}

    def value(self, name: str, **labels) -> float:
        """A sample's value; 0 when the sample is not there (a counter never moved)."""
        for family in self.families.values():
            for sample in family.samples:
                if sample.name == name and sample.labels == labels:
                    return sample.value
        return 0.0

    def has(self, name: str, **labels) -> bool:
        return any(
            sample.name == name and sample.labels == labels
            for family in self.families.values()
            for sample in family.samples
        )


@pytest.fixture
def scrape(front):
    """``scrape()``: the metrics now."""
    return lambda **environ: Scrape(front, **environ)
