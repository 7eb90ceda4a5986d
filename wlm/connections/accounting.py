"""RADIUS accounting as device connections (docs/radius.md): an ``Accounting-Request``
with ``Acct-Status-Type = Start`` is a device seen at the location of its access point,
taken by the same intake as ``POST /connections/`` (hashed devices, the daily aggregate,
the start at the fifth distinct device).

FreeRADIUS's ``rest`` module sends one packet per request and expects its answer quickly,
so each server process keeps a ``Buffer``: a packet is acknowledged once buffered, and a
thread writes what has gathered in one transaction every ``flush_every`` seconds (or
sooner past ``max_batch``). A retransmission (the same access point, device,
``Acct-Session-Id`` and status) counts once: each packet's key is claimed in the batch's
transaction (the intake's idempotency keys, kept ``RETENTION_IDEMPOTENCY_HOURS``: 24 by
default), and a key already there drops the packet. Interim-Update and Stop are
acknowledged and change nothing.

What a crash can lose: the packets buffered and not yet written — 0.1 s' worth while the
database keeps up, but under a sustained burst the writes fall behind and the buffer holds
seconds of packets (the bench measured 2 to 5 s at ~5,000 Starts/s); a normal exit of the
process writes them first (``close``, at exit).

While the database is away (``wlm.lib.database``) the packets stay buffered and the
thread tries again every ``retry_every`` seconds (1), logging the outage once; past
``MAX_PENDING`` packets the oldest are dropped (logged), so a long outage costs memory
up to that bound and then the oldest Starts, never the process.
"""

from __future__ import annotations

import atexit
import datetime as dt
import logging
import threading
from dataclasses import dataclass

from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, transaction

from wlm.connections.models import IntakeKey
from wlm.connections.services import (
    IngestResult,
    _read,
    _upsert,
    _write,
    device_key,
    key_lifetime,
)
from wlm.lib import clock
from wlm.lib.database import AWAY, drop_connection

log = logging.getLogger("wlm.radius")
START = "Start"
KEY_PREFIX = "radius:"
MAX_PENDING = 200_000  # past this (the database is away), the oldest packets are dropped


@dataclass(frozen=True)
class Packet:
    """A Start worth counting: its key (a hash: no device in clear) and its event."""

    key: str
    location: str
    device: str
    seen_at: dt.datetime


def packet(
    *,
    status_type: str,
    location: str | None,
    station: str,
    device: str,
    session: str,
    event_timestamp: int | None,
    now: dt.datetime,
) -> Packet | None:
    """The packet to count, or None for what changes nothing: not a Start, an access
    point that is not registered, no device."""
    if status_type != START or location is None or not device:
        return None
    seen_at = now
    if event_timestamp is not None:
        seen_at = dt.datetime.fromtimestamp(event_timestamp, tz=dt.UTC)
    key = KEY_PREFIX + device_key(f"{station}\x00{device}\x00{session}\x00{status_type}")
    return Packet(key, location, device, seen_at)


def record(gateway_id: int, packets: list[Packet], now: dt.datetime | None = None) -> IngestResult:
    """Count ``packets`` (one gateway's) in one transaction: claim their keys, then the
    intake takes the events of those not seen before."""
    now = now or clock.now()
    unique = list({packet.key: packet for packet in packets}.values())
    if not unique:
        return IngestResult()
    expired = IntakeKey._meta.get_field("created").get_db_prep_value(
        now - key_lifetime(), connections[DEFAULT_DB_ALIAS]
    )
    with transaction.atomic():
        claimed = _upsert(
            IntakeKey,
            ("user", "key", "body_hash", "answer", "created"),
            [(gateway_id, packet.key, "", "", now) for packet in unique],
            conflict=("user", "key"),
            action="DO UPDATE SET created = excluded.created "
            "WHERE {table}.created <= %s RETURNING key",
            action_params=(expired,),
        )
        new = {key for (key,) in claimed}
        events = [
            {"location": p.location, "device": p.device, "seen_at": p.seen_at.isoformat()}
            for p in unique
            if p.key in new
        ]
        batch = _read(events, now)
        if batch.result.accepted:
            _write(batch)
    batch.result.duplicates += len(packets) - len(events)
    batch.result.count("radius")
    return batch.result


class Buffer:
    """One server process's packets waiting to be written (see the module's docstring)."""

    def __init__(
        self,
        *,
        flush_every: float = 0.1,
        max_batch: int = 5_000,
        retry_every: float = 1.0,
        writer: bool = True,
    ) -> None:
        """``writer=False``: no thread, the caller flushes (tests)."""
        self.flush_every = flush_every
        self.max_batch = max_batch
        self.retry_every = retry_every  # while the database is away
        self.away = False
        self._writer = writer
        self._pending: list[tuple[int, Packet]] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._closing = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, gateway_id: int, packet: Packet) -> None:
        with self._lock:
            if len(self._pending) >= MAX_PENDING:
                del self._pending[: len(self._pending) - MAX_PENDING + 1]
                log.error("RADIUS accounting: the buffer is full, the oldest packet dropped")
            self._pending.append((gateway_id, packet))
            if len(self._pending) >= self.max_batch:
                self._wake.set()
            if self._thread is None and self._writer:
                self._start()

    def flush(self) -> int:
        """Write what is buffered now (the thread's work; tests call it). How many packets
        were written; on a database error they stay buffered for the next flush."""
        with self._lock:
            taken, self._pending = self._pending, []
        if not taken:
            return 0
        by_gateway: dict[int, list[Packet]] = {}
        for gateway_id, packet_ in taken:
            by_gateway.setdefault(gateway_id, []).append(packet_)
        try:
            for gateway_id, packets in by_gateway.items():
                record(gateway_id, packets)
        except DatabaseError as error:
            if not isinstance(error, AWAY):
                log.exception("RADIUS accounting: writing %d packets failed; retrying", len(taken))
            elif not self.away:  # once per outage
                log.warning(
                    "RADIUS accounting: the database cannot be reached (%s); %d packets "
                    "kept, tried again every %g s",
                    str(error).strip(),
                    len(taken),
                    self.retry_every,
                )
            self.away = isinstance(error, AWAY)
            drop_connection()
            with self._lock:
                self._pending[:0] = taken  # a packet already written is a duplicate then
            return 0
        if self.away:
            log.warning("RADIUS accounting: the database answers again; %d written", len(taken))
            self.away = False
        return len(taken)

    def __len__(self) -> int:
        return len(self._pending)

    def close(self) -> None:
        """Stop the writer thread and write what is left (a normal exit calls it)."""
        self._closing.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
        self.flush()

    def _start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="radius-accounting", daemon=True)
        self._thread.start()
        atexit.register(self.close)

    def _run(self) -> None:
        try:
            while not self._closing.is_set():
                if self.away:  # not woken by the packets that keep coming meanwhile
                    self._closing.wait(self.retry_every)
                else:
                    self._wake.wait(self.flush_every)
                self._wake.clear()
                self.flush()
        finally:
            connections.close_all()  # the thread's own connections
