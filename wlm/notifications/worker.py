"""One pass of the notifier (``manage.py notifier``; docs/notifications.md).

1. Fixed start dates that have arrived (``lifecycle.start_fixed_due``).
2. Due notices, license by license: the license row is claimed with ``SKIP LOCKED`` (so
   several notifiers share the work and never decide one license twice), the cut-off is
   applied when the end date is reached, the latest due notice is decided ``sent`` and
   the older due ones ``skipped``, and the deliveries are written — all in one
   transaction (the outbox).
3. Deliveries that are due: claimed with ``SKIP LOCKED`` and a lease (attempts + 1,
   next attempt pushed past the lease) in one transaction, sent outside it, then marked
   ``sent``, retried later with exponential backoff, or ``failed`` after the last
   attempt. A notifier killed between the claim and the mark leaves the delivery to be
   retried when the lease ends, with the same idempotency key. Webhooks go out in
   parallel, one lane per receiver, so that a slow receiver delays only its own
   deliveries; 1 and 2 run again after each claim, so that a backlog of deliveries does
   not hold back starts and cut-offs.

Every read of "now" is ``wlm.lib.clock.now()``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import queue
import smtplib
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from django.conf import settings
from django.core.mail import get_connection
from django.db import transaction
from django.db.models import F

from wlm.lib import clock
from wlm.licenses import lifecycle
from wlm.licenses.dates import has_ended
from wlm.licenses.models import License, LicenseStatus
from wlm.notifications import channels, messages, recipients
from wlm.notifications.models import (
    Attempt,
    Channel,
    Delivery,
    DeliveryState,
    Notice,
    NoticeState,
)
from wlm.operations import metrics

log = logging.getLogger(__name__)

LICENSES_PER_TRANSACTION = 100
DELIVERIES_PER_CLAIM = 50
# a claim's deliveries are this notifier's for so long (NOTICE_LEASE_SECONDS, 5 minutes):
# a notifier that dies holding a claim leaves its deliveries to the others for so long
LEASE = dt.timedelta(seconds=settings.NOTICE_LEASE_SECONDS)
# a send starts only with this much of the lease left (a fifth: 1 minute of 5): longer
# than one send can take (an e-mail's steps are each bounded by EMAIL_TIMEOUT; a
# webhook's whole request by WEBHOOK_TIMEOUT, and never beyond the lease less
# LEASE_SAFETY, 5 s of 5 minutes: ``webhook_budget``). The settings refuse a lease
# shorter than five of either time-out.
SEND_MARGIN = LEASE / 5
LEASE_SAFETY = LEASE / 60
WEBHOOK_LANES = 8  # webhook receivers sent to at the same time, one thread each
NOT_TRIED_AFTER_TIME_OUT = "not sent: this webhook timed out on an earlier delivery just now"


@dataclass
class PassResult:
    started: int = 0
    sent: int = 0  # notices decided "sent" (their deliveries written)
    skipped: int = 0
    cut_off: int = 0
    delivered: int = 0
    retried: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def did_something(self) -> bool:
        counts = (self.started, self.sent, self.skipped, self.cut_off)
        return any(counts) or any((self.delivered, self.retried, self.failed, self.errors))

    def __str__(self) -> str:
        return (
            f"started {self.started}, notices sent {self.sent}, skipped {self.skipped}, "
            f"cut off {self.cut_off}, deliveries ok {self.delivered}, "
            f"to retry {self.retried}, failed {self.failed}"
        )


def run_pass(stop: Callable[[], bool] = lambda: False) -> PassResult:
    """One full pass: starts, notices, deliveries. ``stop`` is asked between batches
    (the notifier's SIGTERM): every batch is its own transaction, so stopping there
    leaves nothing half-done."""
    result = PassResult()
    poisoned: set[int] = set()
    _decide(result, poisoned, stop)
    while not stop() and deliver_due(result):
        _decide(result, poisoned, stop)  # what came due while a claim was being sent
    return result


def _decide(result: PassResult, poisoned: set[int], stop: Callable[[], bool]) -> None:
    """Fixed starts and due notices (with their cut-offs): cheap when nothing is due, so
    a pass does it again between delivery claims."""
    result.started += len(lifecycle.start_fixed_due())
    while not stop() and decide_due(result, poisoned):
        pass


def decide_due(result: PassResult, poisoned: set[int]) -> bool:
    """Decide the due notices of up to ``LICENSES_PER_TRANSACTION`` licenses; False when
    none is left that this notifier can take."""
    now = clock.now()
    with transaction.atomic():
        earliest_first = (
            Notice.objects.filter(state=NoticeState.SCHEDULED, due_at__lte=now)
            .exclude(license_id__in=poisoned)
            .order_by("due_at")
            .values_list("license_id", flat=True)[: LICENSES_PER_TRANSACTION * 6]
        )
        wanted = list(dict.fromkeys(earliest_first))[:LICENSES_PER_TRANSACTION]
        if not wanted:
            return False
        licenses = list(
            License.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("organization", "partner", "distributor")
            .prefetch_related("assignments__location")  # named by the messages
            .filter(pk__in=wanted)
            .order_by("pk")
        )
        due: dict[int, list[Notice]] = defaultdict(list)
        for notice in Notice.objects.filter(
            license__in=licenses, state=NoticeState.SCHEDULED, due_at__lte=now
        ).order_by("license_id", "number"):
            due[notice.license_id].append(notice)
        sent, skipped, deliveries = [], [], []
        audience = recipients.for_licenses([license for license in licenses if due[license.pk]])
        for license in licenses:
            if not due[license.pk]:
                continue  # another notifier decided them between our two reads
            try:
                with transaction.atomic():  # one license's failure does not stop the rest
                    _cut_off_if_ended(license, now, result)
            except Exception as error:  # logged, counted, retried on the next pass
                log.exception("the cut-off of license %s failed", license.pk)
                poisoned.add(license.pk)
                result.errors.append(f"license {license.pk}: {error}")
                continue
            *missed, latest = due[license.pk]
            skipped.extend(missed)
            sent.append(latest)
            latest.license = license  # the locked row, its tenants and locations loaded
            deliveries.extend(_deliveries(latest, audience[license.pk], now))
        Notice.objects.filter(pk__in=[n.pk for n in skipped]).update(
            state=NoticeState.SKIPPED, decided_at=now
        )
        Notice.objects.filter(pk__in=[n.pk for n in sent]).update(
            state=NoticeState.SENT, decided_at=now
        )
        Delivery.objects.bulk_create(deliveries)
        result.sent += len(sent)
        result.skipped += len(skipped)
    inbox = sum(delivery.channel == Channel.INBOX for delivery in deliveries)
    if inbox:  # delivered by being written
        metrics.DELIVERIES.labels(Channel.INBOX.value, "sent").inc(inbox)
    return bool(licenses)


def _cut_off_if_ended(license: License, now: dt.datetime, result: PassResult) -> None:
    """The cut-off, applied whatever happened to notice 5 (sent now, or skipped by a
    catch-up): a license in use or denied whose end date is reached is finalized."""
    ending = license.status in (LicenseStatus.IN_USE, LicenseStatus.ACCESS_DENIED)
    if ending and has_ended(license.end_date, license.timezone, now):
        lifecycle.cut_off_locked(license)
        result.cut_off += 1


def _deliveries(notice: Notice, audience: list, now: dt.datetime) -> list[Delivery]:
    """The outbox rows of a decided notice, each with its message as of ``now`` (rendered
    once per language, kept as sent): the inbox is delivered by being written; the others
    are due at once."""
    languages = {to.language for to in audience}
    rendered = {language: messages.render(notice, language, now) for language in languages}
    return [
        Delivery(
            notice=notice,
            channel=to.channel,
            recipient=to.address,
            user=to.user,
            language=to.language,
            tenant_type=to.tenant_type,
            tenant_id=to.tenant_id,
            state=DeliveryState.SENT if to.channel == Channel.INBOX else DeliveryState.PENDING,
            sent_at=now if to.channel == Channel.INBOX else None,
            next_attempt_at=None if to.channel == Channel.INBOX else now,
            **messages.for_delivery(rendered[to.language], to.channel),
        )
        for to in audience
    ]


def backoff(attempts: int) -> dt.timedelta:
    """The wait after failed attempt number ``attempts``: 1, 2, 4, 8… minutes, ≤ 6 hours."""
    base = settings.NOTICE_RETRY_BASE_SECONDS
    return dt.timedelta(seconds=min(base * 2 ** (attempts - 1), 6 * 3600))


def _claim() -> tuple[list[Delivery], dt.datetime]:
    """Due deliveries, each with one more attempt and a lease: until it ends, no other
    notifier takes them. Returns them and the end of their lease."""
    now = clock.now()
    lease_until = now + LEASE
    with transaction.atomic():
        claimed = list(
            Delivery.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related(
                "notice__license__organization",
                "notice__license__partner",
                "notice__license__distributor",
            )
            .prefetch_related("notice__license__assignments__location")
            .filter(state=DeliveryState.PENDING, next_attempt_at__lte=now)
            .order_by("next_attempt_at", "id")[:DELIVERIES_PER_CLAIM]
        )
        Delivery.objects.filter(pk__in=[d.pk for d in claimed]).update(
            attempts=F("attempts") + 1, next_attempt_at=lease_until
        )
        for delivery in claimed:
            delivery.attempts += 1
            delivery.next_attempt_at = lease_until
    return claimed, lease_until


def deliver_due(result: PassResult) -> bool:
    """Send up to ``DELIVERIES_PER_CLAIM`` due deliveries; False when none was due.

    The claim's webhooks go out in parallel (``_WebhookLanes``) while its e-mails go out
    here, over one SMTP connection. A send starts only while the lease has more than
    ``SEND_MARGIN`` left, so that it ends before another notifier may take the delivery;
    what a slow claim could not send goes back, as not attempted."""
    claimed, lease_until = _claim()
    webhooks = [d for d in claimed if d.channel == Channel.WEBHOOK]
    emails = [d for d in claimed if d.channel != Channel.WEBHOOK]
    with _WebhookLanes(lease_until, result) as lanes, _Mail() as mail:
        lanes.start(webhooks)
        for index, delivery in enumerate(emails):
            lanes.record_finished()
            if clock.now() >= lease_until - SEND_MARGIN:
                _release(emails[index:], lease_until)
                break
            try:
                detail = channels.send(delivery, mail.connection)
                ok = True
            except channels.DeliveryError as error:
                detail, ok = str(error), False
                mail.reset()  # the next e-mail on a fresh connection
            except Exception as error:  # one bad delivery must not stop the rest of the claim
                log.exception("delivery %s failed", delivery.pk)
                detail, ok = f"{type(error).__name__}: {error}", False
                mail.reset()
            _record(delivery, ok, detail, result)
        lanes.wait()
    return bool(claimed)


def webhook_budget(lease_until: dt.datetime, timeout: float) -> float | None:
    """Seconds a webhook send starting now may take: its whole deadline (``timeout``),
    cut so that it ends inside the lease (less ``LEASE_SAFETY``); None when no more than
    ``SEND_MARGIN`` of the lease is left and the send must not start."""
    left = lease_until - clock.now()
    if left <= SEND_MARGIN:  # as for e-mails
        return None
    return min(timeout, (left - LEASE_SAFETY).total_seconds())


_LANE_DONE = object()


class _WebhookLanes:
    """A claim's webhooks, sent in parallel: one lane per receiver (tenant and URL),
    at most ``WEBHOOK_LANES`` at a time, so that a slow receiver holds up only its own
    deliveries. A lane's deliveries go one after the other; after a time-out the rest of
    that lane are failed attempts without a request (the receiver would most likely
    keep them waiting as long), retried with the backoff.

    The lanes read and write no database: the requests are prepared before they start,
    and their outcomes come back through a queue to be recorded by the calling thread."""

    def __init__(self, lease_until: dt.datetime, result: PassResult):
        self._lease_until, self._result = lease_until, result
        self._outcomes: queue.SimpleQueue = queue.SimpleQueue()
        self._running = 0
        self._pool: ThreadPoolExecutor | None = None

    def start(self, deliveries: list[Delivery]) -> None:
        lanes: dict[tuple, list] = defaultdict(list)
        for delivery in deliveries:
            try:
                request = channels.webhook_request(delivery)
            except channels.DeliveryError as error:
                _record(delivery, False, str(error), self._result)
                continue
            except Exception as error:  # one bad delivery must not stop the rest
                log.exception("delivery %s failed", delivery.pk)
                _record(delivery, False, f"{type(error).__name__}: {error}", self._result)
                continue
            receiver = (delivery.tenant_type, delivery.tenant_id, delivery.recipient)
            lanes[receiver].append((delivery, request))
        if not lanes:
            return
        self._pool = ThreadPoolExecutor(
            max_workers=min(WEBHOOK_LANES, len(lanes)), thread_name_prefix="webhook"
        )
        timeout, allow_private = settings.WEBHOOK_TIMEOUT, settings.WEBHOOK_ALLOW_PRIVATE
        for lane in lanes.values():
            self._running += 1
            self._pool.submit(self._send, lane, timeout, allow_private)

    def _send(self, lane: list, timeout: float, allow_private: bool) -> None:
        """One receiver's deliveries, in a pool thread: network only."""
        put = self._outcomes.put
        try:
            for index, (delivery, request) in enumerate(lane):
                budget = webhook_budget(self._lease_until, timeout)
                if budget is None:
                    put(("release", [later for later, _ in lane[index:]]))
                    return
                try:
                    detail = channels.post_webhook(
                        request, timeout=budget, allow_private=allow_private
                    )
                    put(("record", delivery, True, detail))
                except channels.TimedOut as error:
                    put(("record", delivery, False, str(error)))
                    for later, _ in lane[index + 1 :]:
                        put(("record", later, False, NOT_TRIED_AFTER_TIME_OUT))
                    return
                except channels.DeliveryError as error:
                    put(("record", delivery, False, str(error)))
                except Exception as error:  # logged; its text may come from the remote
                    log.exception("webhook delivery %s failed", delivery.pk)
                    put(("record", delivery, False, f"webhook failed: {type(error).__name__}"))
        finally:
            put(_LANE_DONE)

    def _apply(self, outcome) -> None:
        if outcome is _LANE_DONE:
            self._running -= 1
        elif outcome[0] == "release":
            _release(outcome[1], self._lease_until)
        else:
            _record(*outcome[1:], self._result)

    def record_finished(self) -> None:
        """Record what the lanes have sent so far, without waiting."""
        while self._running:
            try:
                self._apply(self._outcomes.get_nowait())
            except queue.Empty:
                return

    def wait(self) -> None:
        """Record everything, as it comes, until every lane has ended."""
        while self._running:
            self._apply(self._outcomes.get())

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self._pool is not None:
            self._pool.shutdown(wait=True)  # each send ends within its deadline


def _release(deliveries: list[Delivery], lease_until: dt.datetime) -> None:
    """Give back deliveries this notifier claimed but did not try (if still its own)."""
    Delivery.objects.filter(
        pk__in=[d.pk for d in deliveries],
        state=DeliveryState.PENDING,
        next_attempt_at=lease_until,
    ).update(attempts=F("attempts") - 1, next_attempt_at=clock.now())


class _Mail:
    """One SMTP connection for a claim's e-mails, opened on first use."""

    def __init__(self):
        self._connection = None

    @property
    def connection(self):
        if self._connection is None:
            self._connection = get_connection(fail_silently=False)
        return self._connection

    def reset(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(smtplib.SMTPException, OSError):  # dropping a broken one
                self._connection.close()
            self._connection = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.reset()


def _record(delivery: Delivery, ok: bool, detail: str, result: PassResult) -> None:
    now = clock.now()
    with transaction.atomic():
        Attempt.objects.create(delivery=delivery, at=now, ok=ok, detail=detail[:2000])
        if ok:
            delivery.state, delivery.sent_at, delivery.next_attempt_at = (
                DeliveryState.SENT,
                now,
                None,
            )
            delivery.last_error = ""
            result.delivered += 1
            outcome = "sent"
        elif delivery.attempts >= settings.NOTICE_MAX_ATTEMPTS:
            delivery.state, delivery.next_attempt_at = DeliveryState.FAILED, None
            delivery.last_error = detail
            result.failed += 1
            outcome = "failed"
        else:
            delivery.next_attempt_at = now + backoff(delivery.attempts)
            delivery.last_error = detail
            result.retried += 1
            outcome = "retried"
        delivery.save(update_fields=["state", "sent_at", "next_attempt_at", "last_error"])
    metrics.DELIVERIES.labels(str(delivery.channel), outcome).inc()


def lag(now: dt.datetime | None = None) -> dict[str, float]:
    """How far behind the notifiers are, in seconds (``wlm_notifier_lag_seconds``): the
    age of the oldest due notice not yet decided, and of the oldest due delivery not yet
    claimed; 0 when none waits. One read of each partial index of what is to do."""
    now = now or clock.now()
    oldest = {
        "notices": Notice.objects.filter(state=NoticeState.SCHEDULED, due_at__lte=now)
        .order_by("due_at")
        .values_list("due_at", flat=True)
        .first(),
        "deliveries": Delivery.objects.filter(state=DeliveryState.PENDING, next_attempt_at__lte=now)
        .order_by("next_attempt_at")
        .values_list("next_attempt_at", flat=True)
        .first(),
    }
    return {
        queue: 0.0 if at is None else max(0.0, (now - at).total_seconds())
        for queue, at in oldest.items()
    }
