"""Which way imports run (docs/architecture.md), checked over every module's imports.

An app's core imports only the cores of apps to its left (two exceptions, both rules);
an app's interface (API, pages, filters, list queries, commands) may read any app's core
but never another app's interface; ``lib`` imports no app; the top row (dashboard, demo)
may read anything. Tests and migrations are not checked.
"""

import ast
from pathlib import Path

import pytest

WLM = Path(__file__).resolve().parents[1]
# each app's place from left to right: an app's core imports only apps of a lower rank
RANK = {
    "lib": 0,
    # low: every app counts into its metrics; its core reads no other app (the notifier's
    # lag is handed over by wlm.notifications when it loads)
    "operations": 0.25,
    # low: every app writes to the log; it reads tenancy's door (ALLOWED, below)
    "audit": 0.5,
    "tenancy": 1,
    "locations": 2,
    "licenses": 3,
    "connections": 4,
    "notifications": 4,
    "dataplane": 4,
    # deletes what is past its keeping from the tables of the apps below it
    "retention": 4.5,
    "dashboard": 5,
    "demo": 5,
}
TOP = 5
# modules (or packages) of an app that face people and clients
INTERFACE = {
    "admin",
    "api",
    "context_processors",
    "filters",
    "forms",
    "front",  # the data plane's lean path: it answers HTTP
    "management",
    "queries",
    "request_urls",
    "serializers",
    "templatetags",
    "urls",
    "views",
}
ALLOWED = {
    # the audit log is read through the tenancy door and written with a tenant's chain
    ("audit/models.py", "wlm.tenancy.models"),
    ("audit/models.py", "wlm.tenancy.scoping"),
    ("audit/services.py", "wlm.tenancy.models"),
    # a status change plans or drops its notices in the same transaction
    ("licenses/lifecycle.py", "wlm.notifications.cycle"),
    # adding an element is refused over the license limit, under the license's lock
    ("locations/services.py", "wlm.licenses.limits"),
    # the lean path answers with the entitlement API's own serializer (identical bodies)
    ("dataplane/front.py", "wlm.licenses.serializers"),
}


def _kind(parts: tuple[str, ...]) -> str:
    return "interface" if len(parts) > 1 and parts[1].removesuffix(".py") in INTERFACE else "core"


def _imports(path: Path):
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield from (f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)


def broken_rules(root: Path = WLM) -> list[str]:
    broken = []
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).parts
        if parts[0] not in RANK or {"tests", "migrations"} & set(parts):
            continue
        app, kind = parts[0], _kind(parts)
        for name in _imports(path):
            target = name.split(".")
            if target[0] != "wlm" or len(target) < 2 or target[1] not in RANK:
                continue
            other = target[1]
            module = ".".join(target[:3])
            if other == app or RANK[app] == TOP or ("/".join(parts), module) in ALLOWED:
                continue
            where = f"{'/'.join(parts)} imports {module}"
            if app == "lib":
                broken.append(f"{where}: lib imports no app")
            elif other != "lib" and _kind(tuple(target[1:])) == "interface":
                broken.append(f"{where}: another app's interface")
            elif kind == "core" and RANK[other] >= RANK[app]:
                broken.append(f"{where}: a core imports only apps to its left")
    return broken


def test_imports_run_down():
    assert broken_rules() == []


@pytest.mark.parametrize(
    ("module", "source", "rule"),
    [
        ("lib/extra.py", "from wlm.tenancy.models import Distributor", "lib imports no app"),
        ("licenses/extra.py", "from wlm.notifications import worker", "apps to its left"),
        ("locations/views.py", "from wlm.licenses.api import X", "another app's interface"),
        ("licenses/limits.py", "import wlm.connections.services", "apps to its left"),
    ],
)
def test_a_wrong_import_is_caught(tmp_path, module, source, rule):
    """The walk itself can fail: each kind of wrong import, in a copy of the tree's
    layout, is named."""
    path = tmp_path / module
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(source + "\n")
    [broken] = broken_rules(tmp_path)
    assert rule in broken and module in broken
