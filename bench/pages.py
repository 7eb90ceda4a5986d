"""``make bench BENCH=pages``: the HTML pages and every API list at platform scale, as each
kind of tenant sees them.

Data: the lists target's database (bench/lists.py's ``database()``: 1,000,000 licenses,
``generate_load --locations 200000 --history 4``, one organization in ten moved to a
second partner and distributor; ``LISTS_DATABASE_URL`` measures an existing one), and what
the pages show that ``generate_load`` does not write, written once: ``--pages-requests``
license requests from the largest partner to its distributor (PAGES_REQUESTS, 5,000:
pending, approved and rejected) and ``--pages-inbox`` inbox items for each tenant user
(PAGES_INBOX, 5,000: the latest notices sent for the licenses it sees).

Users (``pages-<tenant>``, admins, made as bench/lists.py makes its users): staff, and the
largest distributor, partner and organization (the most licenses); logged in with a
session for the pages and a token for the API.

Measured, each the p95 of ``--pages-calls`` or ``PAGES_CALLS`` calls (100; 10 for a page
slower than 500 ms, five times the goal), in process (Django's test client: the whole
middleware and view stack, no socket) and over HTTP through the production server
(``common.server()``); goal < 100 ms for a page, < 50 ms for an API list, the larger p95
of the two ways:

- the dashboard;
- the licenses, locations, requests and inbox lists: page 1 unfiltered and with each
  common filter (a status, several, an end-date range, ``q``, sorted by end date), and a
  deep page (page 50, or ``page=last`` where there are fewer pages);
- the license view and each of its tabs, as the htmx fragment its tab bar loads;
- every API list of ``/api/v1/``, page 1 (the lists target measures the filtered ones).

Pages are found by their URL names (``reverse()``) and tabs by the view's ``TABS``, never
by what the HTML holds, so the bench measures the pages as they are when it runs. For
each miss the report says by how much and where the time goes: one call's queries (the
slowest with its ``EXPLAIN ANALYZE``) and its cProfile (top 10 cumulative), in
``bench/results/pages.md`` beside the table of every figure (a page by tenant).

``bench_pages(args)`` is the target of bench/run.py; this file, run as a script, is the
in-process part (``prepare``, ``measure``, ``diagnose``) in its own process with Django.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import http.client
import json
import os
import pstats
import sys
import sysconfig
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlencode

import lists
from common import (
    PORT,
    RESULTS,
    ROOT,
    WORK,
    django_setup,
    log,
    manage,
    script_result,
    server,
    settle,
    timed,
)

PAGE_GOAL_MS = 100
API_GOAL_MS = 50
TENANTS = ("staff", "distributor", "partner", "organization")
DEEP_PAGE = 50
CALLS = int(os.environ.get("PAGES_CALLS", "100"))  # calls of each page, each way
REQUESTS = int(os.environ.get("PAGES_REQUESTS", "5000"))
INBOX = int(os.environ.get("PAGES_INBOX", "5000"))
SEARCH = "0123"  # the lists target's q: a few hundred of the generated names and keys
EXPLAIN_LINES = 40  # of a miss's slowest query's plan, in the report
SQL_CHARACTERS = 1500  # of that query
PLAN_WIDTH = 300  # characters of a line of the plan
# a page slower than SLOW_MS (five times the goal) in the faster of two calls is timed
# SLOW_CALLS times: its p95 over 100 calls would say nothing more, and take minutes
SLOW_MS = 500
SLOW_CALLS = 10
SCRIPT = Path(__file__).resolve()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--pages-calls",
        type=int,
        default=CALLS,
        help="pages: calls of each page, each way (PAGES_CALLS, 100 by default)",
    )
    parser.add_argument(
        "--pages-requests",
        type=int,
        default=REQUESTS,
        help="pages: license requests written for the requests pages (PAGES_REQUESTS, 5,000)",
    )
    parser.add_argument(
        "--pages-inbox",
        type=int,
        default=INBOX,
        help="pages: inbox items written for each tenant user (PAGES_INBOX, 5,000)",
    )
    parser.add_argument(
        "--pages-only",
        nargs="+",
        metavar="TEXT",
        help="pages: measure only the pages whose name or tenant contains one of these",
    )


# --- In process: Django set up on the benchmark database ------------------------------


def _largest(field: str):
    """The id of the tenant (``distributor``, ``partner``, ``organization``) with the most
    licenses."""
    from django.db.models import Count

    from wlm.licenses.models import License

    return (
        License.objects.filter(**{f"{field}__isnull": False})
        .order_by()
        .values(field)
        .annotate(n=Count("pk"))
        .order_by("-n", field)
        .values_list(field, flat=True)
        .first()
    )


def _users() -> dict:
    """The benchmark's users, one per tenant type (admins), as bench/lists.py makes them."""
    from django.contrib.auth import get_user_model

    from wlm.tenancy.models import Distributor, Membership, Organization, Partner, Role

    tenants = {
        "staff": {"tenant_type": "staff"},
        "distributor": {
            "tenant_type": "distributor",
            "distributor": Distributor.objects.get(pk=_largest("distributor")),
        },
        "partner": {
            "tenant_type": "partner",
            "partner": Partner.objects.get(pk=_largest("partner")),
        },
        "organization": {
            "tenant_type": "organization",
            "organization": Organization.objects.get(pk=_largest("organization")),
        },
    }
    users = {}
    for name, membership in tenants.items():
        user, _ = get_user_model().objects.get_or_create(
            username=f"pages-{name}", defaults={"email": f"{name}@pages.example"}
        )
        Membership.objects.update_or_create(user=user, defaults={**membership, "role": Role.ADMIN})
        users[name] = get_user_model().objects.select_related("membership").get(pk=user.pk)
    return users


def _write_requests(users: dict, count: int) -> int:
    """``count`` license requests from the largest partner to its distributor (written
    once): the organization's locations first, four in ten pending, three approved (the
    location's license), three rejected; created over the last ``count`` hours."""
    import random

    from wlm.lib import clock
    from wlm.licenses.models import CurrentLicense, LicenseRequest, Payment, RequestState
    from wlm.locations.models import Location

    requester = users["partner"]
    written = LicenseRequest.objects.filter(requested_by=requester).count()
    if written or not count:
        return written
    partner = requester.membership.partner
    distributor = users["distributor"].membership.distributor
    if not partner.distributors.filter(pk=distributor.pk).exists():
        distributor = partner.distributors.order_by("pk").first()
    organization = users["organization"].membership.organization
    own = Location.objects.filter(organization=organization, organization__partner=partner)
    places = list(own.order_by("name")[:count]) + list(
        Location.objects.filter(organization__partner=partner)
        .exclude(organization=organization)
        .order_by("name")[:count]
    )
    places = places[:count]
    licenses = dict(
        CurrentLicense.objects.filter(
            location__in=[place.pk for place in places], license__requests__isnull=True
        ).values_list("location_id", "license_id")
    )
    rng = random.Random(2026)
    now = clock.now()
    rows = []
    for n, place in enumerate(places):
        created = now - dt.timedelta(hours=count - n)
        state = (RequestState.PENDING,) * 4 + (RequestState.APPROVED,) * 3
        state = (state + (RequestState.REJECTED,) * 3)[n % 10]
        if state == RequestState.APPROVED and place.pk not in licenses:
            state = RequestState.REJECTED
        rows.append(
            LicenseRequest(
                location=place,
                partner=partner,
                distributor=distributor,
                years=rng.randint(1, 5),
                payment=rng.choice(Payment.values),
                aps=None if place.is_hospitality else rng.randint(5, 200),
                rooms=rng.randint(5, 200) if place.is_hospitality else None,
                state=state,
                reason="Not in this budget." if state == RequestState.REJECTED else "",
                license_id=licenses[place.pk] if state == RequestState.APPROVED else None,
                requested_by=requester,
                created=created,
                decided=None if state == RequestState.PENDING else created + dt.timedelta(hours=1),
            )
        )
    LicenseRequest.objects.bulk_create(rows, batch_size=1000)
    return len(rows)


def _write_inbox(user, count: int) -> int:
    """``count`` inbox items of ``user`` (written once): the latest notices sent for the
    licenses it sees, each with its message as the notifier stores it; half of them read."""
    from wlm.notifications import messages
    from wlm.notifications.models import Channel, Delivery, DeliveryState, Notice, NoticeState

    written = Delivery.objects.filter(user=user, channel=Channel.INBOX).count()
    if written or not count:
        return written
    membership = user.membership
    tenant_id = getattr(membership, f"{membership.tenant_type}_id")
    notices = (
        Notice.objects.visible_to(user)
        .filter(state=NoticeState.SENT)
        .select_related("license__organization", "license__partner", "license__distributor")
        .prefetch_related("license__assignments__location")
        .order_by("-decided_at", "-id")[:count]
    )
    rows = []
    for n, notice in enumerate(notices.iterator(chunk_size=1000)):
        message = messages.render(notice, "en")
        rows.append(
            Delivery(
                notice=notice,
                channel=Channel.INBOX,
                recipient=user.username,
                user=user,
                language="en",
                tenant_type=membership.tenant_type,
                tenant_id=tenant_id,
                state=DeliveryState.SENT,
                sent_at=notice.decided_at,
                read_at=notice.decided_at if n % 2 else None,
                **messages.for_delivery(message, Channel.INBOX),
            )
        )
    Delivery.objects.bulk_create(rows, batch_size=1000)
    return len(rows)


def _session(user) -> str:
    """A logged-in session of ``user`` (what ``Client.force_login`` stores): its key."""
    from importlib import import_module

    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY

    store = import_module(settings.SESSION_ENGINE).SessionStore()
    store[SESSION_KEY] = user._meta.pk.value_to_string(user)
    store[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.save()
    return store.session_key


def _url(name: str, query: dict | None = None, **kwargs) -> str:
    from django.urls import reverse

    url = reverse(name, kwargs=kwargs or None)
    return f"{url}?{urlencode(query, doseq=True)}" if query else url


def _list_cases(today: dt.date) -> list[tuple[str, str, dict, bool]]:
    """(name, URL name, query, deep page too) of each list page measured."""
    from wlm.licenses.models import LicenseStatus, RequestState

    year = {"after": today.isoformat(), "before": (today + dt.timedelta(days=365)).isoformat()}
    several = [LicenseStatus.IN_USE, LicenseStatus.PENDING_START]
    licenses = {
        "all filters (the lists target's)": {
            "status": several,
            "end_after": year["after"],
            "end_before": year["before"],
            "q": SEARCH,
            "ordering": "end_date",
        }
    }
    return [
        ("licenses", "licenses:list", {}, True),
        ("licenses: status", "licenses:list", {"status": LicenseStatus.IN_USE}, False),
        ("licenses: 2 statuses", "licenses:list", {"status": several}, False),
        (
            "licenses: end-date range (1 year)",
            "licenses:list",
            {"end_after": year["after"], "end_before": year["before"]},
            False,
        ),
        ("licenses: q", "licenses:list", {"q": SEARCH}, False),
        ("licenses: by end date", "licenses:list", {"ordering": "end_date"}, True),
        *((f"licenses: {name}", "licenses:list", query, False) for name, query in licenses.items()),
        ("locations", "locations:list", {}, True),
        ("locations: license status", "locations:list", {"license_status": "in_use"}, False),
        ("locations: 2 license statuses", "locations:list", {"license_status": several}, False),
        (
            "locations: license end range (1 year)",
            "locations:list",
            {"license_end_after": year["after"], "license_end_before": year["before"]},
            False,
        ),
        ("locations: q", "locations:list", {"q": SEARCH}, False),
        ("locations: by license end", "locations:list", {"ordering": "license_end"}, True),
        ("requests: the queue (pending)", "requests:list", {"state": RequestState.PENDING}, True),
        ("requests: all", "requests:list", {"q": ""}, True),
        (
            "requests: 2 states",
            "requests:list",
            {"state": [RequestState.APPROVED, RequestState.REJECTED]},
            False,
        ),
        ("requests: q", "requests:list", {"q": SEARCH}, False),
        ("requests: by decision date", "requests:list", {"ordering": "-decided"}, False),
        ("inbox", "notifications:inbox", {}, True),
        ("inbox: unread", "notifications:inbox", {"unread": "true"}, False),
        ("inbox: q", "notifications:inbox", {"q": SEARCH}, False),
    ]


def _api_lists() -> list[tuple[str, list[str]]]:
    """Every list of ``/api/v1/``: its URL name (``api:…-list``) and the URL's arguments."""
    from django.urls import get_resolver

    api = get_resolver().namespace_dict["api"][1]
    found = []
    for name in api.reverse_dict:
        if isinstance(name, str) and name.endswith("-list"):
            variants = [
                params
                for possibility in api.reverse_dict.getlist(name)
                for _pattern, params in possibility[0]
            ]
            params = min(variants, key=len)
            if "format" not in params:
                found.append((name, list(params)))
    return sorted(found)


def prepare(requests: int, inbox: int) -> dict:
    """The users, their sessions and tokens, the data the pages need, and the cases:
    each page or API list with its URL and headers for each tenant."""
    from django.conf import settings
    from django.db import connection

    from wlm.lib import clock
    from wlm.licenses.models import License, LicenseStatus
    from wlm.locations.models import Location
    from wlm.tenancy import tokens

    lists.split_tenants()  # the lists target's database: the same tenants
    users = _users()
    written = {"requests": _write_requests(users, requests)}
    for name, user in users.items():
        if name != "staff":  # staff receive no notices (wlm/notifications/recipients.py)
            written[f"inbox of {name}"] = _write_inbox(user, inbox)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE licenses_licenserequest")
        cursor.execute("ANALYZE notifications_delivery")

    from wlm.licenses.views import licenses as license_views

    tabs = [name for name, _label in getattr(license_views, "TABS", ())]
    tab_target = getattr(license_views, "TAB_PANEL_TARGET", "tab-panel")
    today = clock.now().date()
    cases = []
    for tenant, user in users.items():

        def add(name, url, kind="page", headers=None, deep=False, tenant=tenant):
            cases.append(
                {
                    "key": f"{name} | {tenant}",
                    "name": name,
                    "tenant": tenant,
                    "kind": kind,
                    "url": url,
                    "headers": headers or {},
                    "deep": deep,
                    "goal": API_GOAL_MS if kind == "api" else PAGE_GOAL_MS,
                }
            )

        add("dashboard", _url("dashboard"))
        for name, url_name, query, deep in _list_cases(today):
            add(f"{name}, page 1", _url(url_name, query))
            if deep:
                add(
                    f"{name}, deep page",
                    _url(url_name, {**query, "page": DEEP_PAGE}),
                    deep=True,
                )
        license = (
            License.objects.visible_to(user)
            .filter(status=LicenseStatus.IN_USE)
            .order_by("pk")
            .first()
        )
        if license:
            add("license view", _url("licenses:detail", pk=license.pk))
            for tab in tabs:
                add(
                    f"license view: tab {tab} (htmx)",
                    _url("licenses:detail", {"tab": tab}, pk=license.pk),
                    headers={"HX-Request": "true", "HX-Target": tab_target},
                )
        location = Location.objects.visible_to(user).order_by("name", "id").first()
        for name, params in _api_lists():
            if params and not (set(params) == {"location_pk"} and location):
                continue
            kwargs = {"location_pk": location.pk} if params else {}
            add(
                f"API: {name.removesuffix('-list')} list, page 1",
                _url(f"api:{name}", **kwargs),
                kind="api",
            )
    return {
        "licenses": License.objects.count(),
        "written": written,
        "cookie": settings.SESSION_COOKIE_NAME,
        "sessions": {name: _session(user) for name, user in users.items()},
        "tokens": {
            # a new token per run: a secret cannot be read back (wlm.tenancy.tokens)
            name: tokens.issue(user, "bench pages")[1]
            for name, user in users.items()
        },
        "tenants": {
            name: str(
                getattr(user.membership, user.membership.tenant_type, None) or "platform operator"
            )
            for name, user in users.items()
        },
        "cases": cases,
    }


def _clients(setup: dict):
    """One test client per tenant and kind: the session cookie (pages) or the token (API);
    a failing view answers 500 instead of raising (the row says so)."""
    from django.test import Client

    clients = {}

    def client(case):
        key = (case["tenant"], case["kind"])
        if key not in clients:
            if case["kind"] == "api":
                token = setup["tokens"][case["tenant"]]
                clients[key] = Client(
                    raise_request_exception=False, HTTP_AUTHORIZATION=f"Token {token}"
                )
            else:
                clients[key] = Client(raise_request_exception=False)
                clients[key].cookies[setup["cookie"]] = setup["sessions"][case["tenant"]]
        return clients[key]

    return client


def _deep_fallback(url: str) -> str:
    return url.replace(f"page={DEEP_PAGE}", "page=last")


def measure(setup: dict, cases: list[dict], calls: int) -> dict:
    """In process: each case's p95 of ``calls`` calls (``SLOW_CALLS`` when the faster of
    two takes more than ``SLOW_MS``), its answer and its queries; a deep page beyond the
    last asks for ``page=last``."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = _clients(setup)
    results = {}
    for case in cases:
        url = case["url"]
        get = client(case)
        response = get.get(url, headers=case["headers"])
        if response.status_code == 404 and case["deep"]:
            url = _deep_fallback(url)
            response = get.get(url, headers=case["headers"])
        result = {"url": url, "status": response.status_code, "bytes": len(response.content)}
        if response.status_code != 200:
            result["error"] = response.content[:300].decode(errors="replace")
            results[case["key"]] = result
            log(f"pages: {case['key']}: answered {response.status_code}")
            continue

        def call(url=url, get=get, headers=case["headers"]):
            return get.get(url, headers=headers).content

        probes = []
        for _ in range(2):
            start = time.perf_counter()
            call()
            probes.append((time.perf_counter() - start) * 1000)
        slow = min(probes) > SLOW_MS
        result["calls"] = min(calls, SLOW_CALLS) if slow else calls
        result.update(timed(call, result["calls"]))
        with CaptureQueriesContext(connection) as queries:
            call()
        result["queries"] = len(queries.captured_queries)
        results[case["key"]] = result
        print(  # progress, in the server log
            f"[{time.strftime('%H:%M:%S')}] pages: {case['key']}: p95 {result['p95_ms']} ms "
            f"({result['calls']} calls, {result['queries']} queries)",
            file=sys.stderr,
            flush=True,
        )
    return results


def _where(file: str, line: int, name: str) -> str:
    for prefix in (f"{sysconfig.get_paths()['purelib']}/", f"{ROOT}/"):
        file = file.removeprefix(prefix)
    return f"{file}:{line}({name})" if line else name


def _profile(call, top: int = 10) -> dict:
    """cProfile of one call: the share spent rendering templates, the project's functions
    (but the middleware) with the most cumulative time and the functions with the most
    time of their own, ``top`` each."""
    profile = cProfile.Profile()
    profile.enable()
    call()
    profile.disable()
    stats = pstats.Stats(profile).stats
    total = max(ct for _cc, _nc, _tt, ct, _callers in stats.values())
    rendering = sum(
        ct
        for (file, _line, name), (_cc, _nc, _tt, ct, _callers) in stats.items()
        if name == "render" and file.endswith("django/template/backends/django.py")
    )

    def lines(entries, key):
        ranked = sorted(entries, key=key, reverse=True)[:top]
        return [
            f"{ct * 1000:9.1f} {tt * 1000:9.1f} {nc:>7}  {_where(*where)}"
            for where, (_cc, nc, tt, ct, _callers) in ranked
        ]

    heading = f"{'cum ms':>9} {'own ms':>9} {'calls':>7}  function"
    project = [  # the middleware hold all of it and say nothing
        item
        for item in stats.items()
        if item[0][0].startswith(f"{ROOT}/wlm/") and item[0][2] != "__call__"
    ]
    return {
        "total_ms": round(total * 1000, 1),
        "templates_share": round(rendering / total, 3) if total else 0,
        "cumulative": "\n".join([heading, *lines(project, lambda item: item[1][3])]),
        "own": "\n".join([heading, *lines(stats.items(), lambda item: item[1][2])]),
    }


def _explain(sql: str) -> str:
    from django.db import connection

    if connection.vendor != "postgresql":
        prefix = "EXPLAIN QUERY PLAN "
    else:
        prefix = "EXPLAIN (ANALYZE, BUFFERS) "
    try:
        with connection.cursor() as cursor:
            cursor.execute(prefix + sql)
            plan = [" ".join(str(value) for value in row) for row in cursor.fetchall()]
        plan = [  # a filter on thousands of ids is one line of the plan
            line if len(line) <= PLAN_WIDTH else f"{line[:PLAN_WIDTH]}…" for line in plan
        ]
    except Exception as error:  # the diagnosis says why it has no plan
        return f"(no plan: {error})"
    if len(plan) > EXPLAIN_LINES:
        plan = [*plan[:EXPLAIN_LINES], f"… ({len(plan) - EXPLAIN_LINES} more lines)"]
    return "\n".join(plan)


def diagnose(setup: dict, cases: list[dict]) -> dict:
    """Where one call of each case spends its time: its queries (count, total, the
    slowest with its plan) and its cProfile (top 10 cumulative)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = _clients(setup)
    found = {}
    for case in cases:
        get = client(case)

        def call(url=case["url"], get=get, headers=case["headers"]):
            return get.get(url, headers=headers).content

        call()  # warm
        with CaptureQueriesContext(connection) as queries:
            start = time.perf_counter()
            call()
            total = (time.perf_counter() - start) * 1000
        captured = [(float(query["time"]) * 1000, query["sql"]) for query in queries]
        slowest = max(captured, default=(0.0, ""))
        found[case["key"]] = {
            "call_ms": round(total, 1),
            "queries": len(captured),
            "sql_ms": round(sum(ms for ms, _sql in captured), 1),
            "slowest_ms": round(slowest[0], 1),
            "slowest_sql": slowest[1][:SQL_CHARACTERS],
            "explain": _explain(slowest[1]) if slowest[1] else "",
            "profile": _profile(call),
        }
    return found


# --- Over HTTP, from the driver's process (bench/run.py) -----------------------------


def measure_http(setup: dict, cases: list[dict], measured: dict, port: int) -> dict:
    """Each case over keep-alive connections (one per tenant and kind) to the production
    server, at the URL and as many times as the in-process pass settled on."""
    connections: dict = {}
    results = {}
    for case in cases:
        key = (case["tenant"], case["kind"])
        if case["kind"] == "api":
            auth = {"Authorization": f"Token {setup['tokens'][case['tenant']]}"}
        else:
            auth = {"Cookie": f"{setup['cookie']}={setup['sessions'][case['tenant']]}"}
        headers = {**auth, **case["headers"]}
        url = measured[case["key"]]["url"]
        calls = measured[case["key"]].get("calls", 1)
        status = [0, b""]

        def call(url=url, headers=headers, key=key, status=status):
            for attempt in (1, 2):
                if key not in connections:
                    connections[key] = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
                try:
                    connections[key].request("GET", url, headers=headers)
                    response = connections[key].getresponse()
                    body = response.read()
                    status[:] = [response.status, body]
                    return
                except (OSError, http.client.HTTPException):
                    connections.pop(key).close()
                    if attempt == 2:
                        raise

        call()
        if status[0] != 200:
            results[case["key"]] = {
                "url": url,
                "status": status[0],
                "error": status[1][:300].decode(errors="replace"),
            }
            log(f"pages: {case['key']}: answered {status[0]} over HTTP")
            continue
        results[case["key"]] = {"url": url, "status": 200, "calls": calls, **timed(call, calls)}
    for connection in connections.values():
        connection.close()
    return results


@contextmanager
def _data_dir():
    """The pages' data folder (secret key, signing keys, collected static files) under
    ``BENCH_DIR``, for every process of the run: the pages need the static files'
    manifest (production settings), and the checkout's data/ stays untouched."""
    before = os.environ.get("DATA_DIR")
    os.environ["DATA_DIR"] = str(WORK / "pages-data")
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("DATA_DIR", None)
        else:
            os.environ["DATA_DIR"] = before


def _selected(cases: list[dict], only: list[str] | None) -> list[dict]:
    if not only:
        return cases
    return [case for case in cases if any(text in case["key"] for text in only)]


def _row(case: dict, in_process: dict, over_http: dict, licenses: int) -> dict:
    goal = case["goal"]
    benchmark = f"pages: {case['name']}, {case['tenant']} ({licenses:,} licenses)"
    failed = [
        f"answered {way['status']} {where}"
        for where, way in (("in process", in_process), ("over HTTP", over_http))
        if way.get("status") != 200
    ]
    goal_text = f"< {goal} ms p95 in process and over HTTP"
    if failed:
        figure, passed = 0, False
        goal_text += f" ({', '.join(failed)})"
    else:
        figure = max(in_process["p95_ms"], over_http["p95_ms"])
        passed = figure < goal
        if not passed:
            goal_text += f" (missed by {figure - goal:,.0f} ms; why: pages.md)"
    return {
        "benchmark": benchmark,
        "figure": figure,
        "ceiling": None,
        "unit": "ms (p95)",
        "ratio": None,
        "goal": goal_text,
        "pass": passed,
        "detail": {
            "page": case["name"],
            "tenant": case["tenant"],
            "kind": case["kind"],
            "url": in_process.get("url", case["url"]),
            "headers": case["headers"],
            "in_process": in_process,
            "http": over_http,
        },
    }


def _cell(row: dict, calls: int) -> str:
    detail = row["detail"]
    ways = (detail["in_process"], detail["http"])
    if any(way.get("status") != 200 for way in ways):
        return " / ".join(str(way.get("status", "—")) for way in ways) + " ✗"
    text = f"{ways[0]['p95_ms']:,.1f} / {ways[1]['p95_ms']:,.1f}"
    if ways[0]["calls"] < calls:
        text += f" ({ways[0]['calls']} calls)"
    return text if row["pass"] else f"**{text}** ✗"


def _report(rows: list[dict], diagnosis: dict, parameters: dict, full: bool) -> str:
    """bench/results/pages.md (``full``: the run's output): every figure (a page by
    tenant), the lists target's filtered API lists, and where each miss spends its time."""
    by_page: dict[str, dict] = {}
    for row in rows:
        by_page.setdefault(row["detail"]["page"], {})[row["detail"]["tenant"]] = row
    lines = [
        "# Pages and API lists at platform scale (`make bench BENCH=pages`)",
        "",
        f"Written by bench/pages.py, {parameters['started']} to {parameters['ended']} "
        f"(load average {parameters['load']['start']} at the start, "
        f"{parameters['load']['end']} at the end; {os.cpu_count()} cores), "
        f"{parameters['licenses']:,} licenses. p95 of {parameters['calls']} calls in ms "
        f"(of {SLOW_CALLS} for a page slower than {SLOW_MS:,} ms), in process / over HTTP; "
        "goal < 100 ms for a page, < 50 ms for an API list (**bold ✗**: missed). Tenants: "
        + "; ".join(f"{name}: {tenant}" for name, tenant in parameters["tenants"].items())
        + ".",
        "",
        f"| page | {' | '.join(TENANTS)} |",
        f"|---|{'---:|' * len(TENANTS)}",
    ]
    for page, tenants in by_page.items():
        cells = [
            _cell(tenants[tenant], parameters["calls"]) if tenant in tenants else "—"
            for tenant in TENANTS
        ]
        lines.append(f"| {page} | {' | '.join(cells)} |")
    listed = RESULTS / "lists.json"
    if listed.exists():
        report = json.loads(listed.read_text())
        lines += [
            "",
            f"The API lists with filters are the lists target's (bench/lists.py, run "
            f"{report['date']}; its tenants are the second distributor and partner, one "
            "organization in ten):",
            "",
            "| API list | figure | goal | result |",
            "|---|---:|---|---|",
        ]
        lines += [
            f"| {row['benchmark']} | {row['figure']:,} {row['unit']} | {row['goal']} "
            f"| {'pass' if row['pass'] else 'MISS'} |"
            for row in report["rows"]
            if row["unit"].startswith("ms")
        ]
    misses = [row for row in rows if not row["pass"]]
    lines += ["", f"## Misses ({len(misses)} of {len(rows)})", ""]
    if "diagnosis" in parameters:
        lines += [f"Where the time goes: {parameters['diagnosis']}.", ""]
    if not misses:
        lines.append("None.")
    if not full:
        lines += [
            "Each page's worst tenant with its slowest query, plan and profile; its other",
            "tenants' misses in one line each (the run's output shows them all in full).",
            "",
        ]
    by_page_misses: dict[str, list] = {}
    for row in misses:
        by_page_misses.setdefault(row["detail"]["page"], []).append(row)
    for page_rows in by_page_misses.values():
        page_rows.sort(key=lambda row: row["figure"], reverse=True)
        for n, row in enumerate(page_rows):
            if full or n == 0:
                lines += _miss(row, diagnosis)
            else:
                lines += _miss_line(row, diagnosis)
    return "\n".join(lines) + "\n"


def _summary(found: dict) -> str:
    return (
        f"one call in process: {found['call_ms']:,} ms; {found['queries']} queries, "
        f"{found['sql_ms']:,} ms of SQL (the slowest {found['slowest_ms']:,} ms); "
        f"rendering the templates {found['profile']['templates_share']:.0%} of the profiled "
        f"call ({found['profile']['total_ms']:,} ms under cProfile)"
    )


def _miss_line(row: dict, diagnosis: dict) -> list[str]:
    found = diagnosis.get(f"{row['detail']['page']} | {row['detail']['tenant']}")
    why = _summary(found) if found else "no answer in process (see the run's output)"
    return [f"- {row['detail']['tenant']}: {row['figure']:,} ms; {why}.", ""]


def slowest_query(found: dict) -> list[str]:
    """A diagnosis's slowest query and its plan, as two Markdown code blocks."""
    return ["```sql", found["slowest_sql"], "```", "", "```", found["explain"], "```", ""]


def _miss(row: dict, diagnosis: dict) -> list[str]:
    lines = [f"### {row['benchmark']}", "", f"`{row['detail']['url']}`: {row['goal']}", ""]
    found = diagnosis.get(f"{row['detail']['page']} | {row['detail']['tenant']}")
    if not found:
        for way in ("in_process", "http"):
            if "error" in row["detail"][way]:
                lines += ["```", row["detail"][way]["error"], "```", ""]
        return lines
    profile = found["profile"]
    return [
        *lines,
        f"{_summary(found)[0].upper()}{_summary(found)[1:]}. The slowest query and its plan:",
        "",
        *slowest_query(found),
        "cProfile of one call: the project's functions by cumulative time (top 10), then",
        "every function by its own time (top 10):",
        "",
        "```",
        profile["cumulative"],
        "",
        profile["own"],
        "```",
        "",
    ]


def prepare_database(url: str, args, script: Path = SCRIPT) -> dict:
    """The users, requests and inbox items the pages are measured with, written into the
    database at ``url`` (its cases: what to call as whom), then the tables settled.
    ``script``: whose ``prepare`` step makes the setup (bench/growth.py adds its own
    cases and the export to the pages')."""
    setup = script_result(
        url,
        script,
        "prepare",
        "--requests",
        str(args.pages_requests),
        "--inbox",
        str(args.pages_inbox),
    )
    settle(url)
    return setup


def bench_pages(args) -> dict:
    """The target ``pages`` of bench/run.py (see the module's docstring)."""
    started = time.strftime("%Y-%m-%d %H:%M %Z")
    load_start = round(os.getloadavg()[0], 1)
    url = lists.database(args.lists_locations)
    with _data_dir():
        log("pages: collecting the static files (the pages' manifest)")
        manage(url, "collectstatic", "--noinput", "-v0")
        log("pages: users, requests and inbox items (written once)")
        setup = prepare_database(url, args)
        cases = _selected(setup["cases"], args.pages_only)
        WORK.mkdir(parents=True, exist_ok=True)
        setup_file = WORK / "pages-setup.json"
        setup_file.write_text(json.dumps({**setup, "cases": cases}))
        log(
            f"pages: {setup['licenses']:,} licenses, {len(cases)} pages and API lists, "
            f"{args.pages_calls} calls each, in process"
        )
        measured = script_result(
            url, SCRIPT, "measure", "--calls", str(args.pages_calls), "--setup", str(setup_file)
        )
        log("pages: over HTTP")
        with server("wlm.wsgi:application", url):
            over_http = measure_http(setup, cases, measured, PORT)
        rows = [
            _row(case, measured[case["key"]], over_http[case["key"]], setup["licenses"])
            for case in cases
        ]
        missed = [
            {**case, "url": measured[case["key"]]["url"]}
            for case, row in zip(cases, rows, strict=True)
            if not row["pass"] and measured[case["key"]].get("status") == 200
        ]
        diagnosis = {}
        if missed:
            log(f"pages: {len(missed)} misses; where their time goes")
            setup_file.write_text(json.dumps({**setup, "cases": missed}))
            diagnosis = script_result(url, SCRIPT, "diagnose", "--setup", str(setup_file))
    for row in rows:
        key = f"{row['detail']['page']} | {row['detail']['tenant']}"
        if key in diagnosis:  # the figures; the query, its plan and the profile: pages.md
            found = diagnosis[key]
            row["detail"]["diagnosis"] = {
                **{name: found[name] for name in ("call_ms", "queries", "sql_ms", "slowest_ms")},
                "templates_share": found["profile"]["templates_share"],
            }
    parameters = {
        "licenses": setup["licenses"],
        "calls": args.pages_calls,
        "tenants": setup["tenants"],
        "written": setup["written"],
        "started": started,
        "ended": time.strftime("%H:%M %Z"),
        "load": {"start": load_start, "end": round(os.getloadavg()[0], 1)},
        "figures": "the larger p95 of in process and over HTTP",
        "filtered API lists": "the lists target's rows (bench/results/lists.json)",
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "pages.md").write_text(_report(rows, diagnosis, parameters, full=False))
    (WORK / "pages-diagnosis.json").write_text(json.dumps(diagnosis))
    print(_report(rows, diagnosis, parameters, full=True))
    return {"target": "pages", "parameters": parameters, "rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description="The in-process part of the pages benchmark.")
    parser.add_argument("step", choices=["prepare", "measure", "diagnose"])
    parser.add_argument("--calls", type=int, default=CALLS)
    parser.add_argument("--setup", help="a file with prepare's JSON and the cases to run")
    parser.add_argument("--requests", type=int, default=REQUESTS, help="(prepare)")
    parser.add_argument("--inbox", type=int, default=INBOX, help="(prepare)")
    args = parser.parse_args()
    django_setup()
    if args.step == "prepare":
        print(json.dumps(prepare(args.requests, args.inbox)))
        return
    setup = json.loads(Path(args.setup).read_text())
    if args.step == "measure":
        print(json.dumps(measure(setup, setup["cases"], args.calls)))
    else:
        print(json.dumps(diagnose(setup, setup["cases"])))


if __name__ == "__main__":
    main()
