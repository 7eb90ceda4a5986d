"""What ``/healthz`` and ``/readyz`` check (answered by ``wlm.operations.endpoints`` on
the lean path, before Django; docs/operations.md).

- ``/healthz``: the process answers. No database: a database outage must not make an
  orchestrator restart every web process.
- ``/readyz``: the database answers, every migration is applied, and a notifier is at
  work — its freshest heartbeat (``Heartbeat``) is younger than
  ``READYZ_NOTIFIER_INTERVALS`` times that notifier's interval. With
  ``READYZ_REQUIRE_NOTIFIER`` off the notifier is reported but does not fail readiness.

Cheap: the migrations are compared once per process, until they are all applied, and
then never again (a process does not outlive its code); after that a check is one
query on the heartbeats' index, which also proves the database answers.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.conf import settings
from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor
from django.utils.translation import gettext, ngettext

from wlm.lib import clock
from wlm.operations import metrics
from wlm.operations.models import Heartbeat

OK, UNKNOWN = "ok", "unknown"
SHOWN_MIGRATIONS = 10  # the unapplied ones named in the answer
HEARTBEATS_READ = 100  # the freshest rows: one per notifier process still beating

_all_applied = False  # set once the migrations are found applied in this process


def unapplied_migrations() -> list[str]:
    """``app.migration`` names not applied to the database (``migrate`` would apply
    them); [] at once when they were all applied at an earlier check."""
    global _all_applied
    if _all_applied:
        return []
    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    names = [f"{migration.app_label}.{migration.name}" for migration, _backwards in plan]
    _all_applied = not names
    return names


def forget_migrations() -> None:
    """Check the migrations again at the next call (tests)."""
    global _all_applied
    _all_applied = False


@dataclass(frozen=True)
class Notifiers:
    alive: int  # notifiers whose last beat is fresh
    last_beat_seconds: float | None  # age of the freshest beat; None: never any
    stale_after_seconds: int | None  # the freshest notifier's limit


def notifiers(now: dt.datetime) -> Notifiers:
    """The notifiers' heartbeats as of ``now`` (one query)."""
    rows = Heartbeat.objects.order_by("-beat_at").values_list("beat_at", "interval")
    intervals = settings.READYZ_NOTIFIER_INTERVALS
    alive, latest = 0, None
    for beat_at, interval in rows[:HEARTBEATS_READ]:
        age = max(0.0, (now - beat_at).total_seconds())  # another machine's clock may lead
        if latest is None:
            latest = (age, intervals * interval)
        alive += age <= intervals * interval
    if latest is None:
        return Notifiers(0, None, None)
    return Notifiers(alive, round(latest[0], 3), latest[1])


@dataclass
class Readiness:
    checks: dict[str, str] = field(
        default_factory=lambda: {"database": OK, "migrations": UNKNOWN, "notifier": UNKNOWN}
    )
    problems: list[str] = field(default_factory=list)  # what is wrong, in words
    unapplied: list[str] = field(default_factory=list)
    notifier: dict = field(default_factory=dict)

    @property
    def ready(self) -> bool:
        return not self.problems

    def facts(self) -> dict:
        """The answer's members beside the status: each check's outcome, and details."""
        facts = {"checks": self.checks, "notifier": self.notifier}
        if self.unapplied:
            facts["unapplied_migrations"] = self.unapplied[:SHOWN_MIGRATIONS]
        return facts


def readiness() -> Readiness:
    """Database, migrations, notifier: each check's outcome and, for those that fail
    readiness, what is wrong."""
    state = Readiness()
    required = settings.READYZ_REQUIRE_NOTIFIER
    state.notifier["required"] = required
    try:
        metrics.checked_connection()
        state.unapplied = unapplied_migrations()
        if state.unapplied:
            state.checks["migrations"] = "unapplied"
            count = len(state.unapplied)
            state.problems.append(
                ngettext(
                    "%(count)d migration is not applied (manage.py migrate).",
                    "%(count)d migrations are not applied (manage.py migrate).",
                    count,
                )
                % {"count": count}
            )
            return state  # the heartbeats' table may not exist yet
        state.checks["migrations"] = OK
        found = notifiers(clock.now())
    except DatabaseError as error:
        metrics.failed_connection(error, "readyz")
        state.checks["database"] = "unreachable"
        state.problems.append(gettext("The database does not answer."))
        return state
    state.notifier.update(
        alive=found.alive,
        last_beat_seconds=found.last_beat_seconds,
        stale_after_seconds=found.stale_after_seconds,
    )
    if found.alive:
        state.checks["notifier"] = OK
        return state
    if found.last_beat_seconds is None:
        state.checks["notifier"] = "absent"
        problem = gettext("No notifier has ever beaten (manage.py notifier).")
    else:
        state.checks["notifier"] = "stale"
        problem = gettext(
            "The latest notifier heartbeat is %(age)d seconds old; it is stale after %(limit)d."
        ) % {"age": found.last_beat_seconds, "limit": found.stale_after_seconds}
    if required:
        state.problems.append(problem)
    return state


def provide_gauges() -> None:
    """The heartbeats in the metrics, read when scraped (wlm.operations.metrics)."""
    metrics.provide(
        "wlm_notifiers_alive",
        "Notifier processes whose heartbeat is fresh (READYZ_NOTIFIER_INTERVALS x interval).",
        [],
        lambda: {(): notifiers(clock.now()).alive},
    )
    metrics.provide(
        "wlm_notifier_last_beat_age_seconds",
        "Age of the freshest notifier heartbeat (absent: no notifier ever beat).",
        [],
        _last_beat_age,
    )


def _last_beat_age() -> dict[tuple, float]:
    age = notifiers(clock.now()).last_beat_seconds
    return {} if age is None else {(): age}
