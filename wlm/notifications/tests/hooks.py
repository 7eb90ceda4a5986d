"""A real HTTP server that records the webhooks it gets, and the check a receiver makes of
their signature: shared by the notifications tests (fixtures in conftest.py)."""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_AGE = 5 * 60  # seconds


def verify(secret: str, header: str, body: bytes, now: float | None = None) -> bool:
    """True when ``header`` (the WLM-Signature value) signs the raw ``body`` with the
    tenant's webhook secret and its timestamp is at most 5 minutes away from now."""
    try:
        fields = dict(part.strip().split("=", 1) for part in header.split(","))
        timestamp, received = fields["t"], fields["v1"]
        age = (time.time() if now is None else now) - int(timestamp)
    except (KeyError, ValueError):
        return False
    if abs(age) > MAX_AGE:
        return False  # an old (replayed) or a future timestamp
    signed = timestamp.encode() + b"." + body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), received.encode())


@dataclass
class Hit:
    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: bytes


@dataclass
class HookRecorder:
    port: int = 0
    hits: list[Hit] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)  # answered in order, then 204
    connections: int = 0

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


class HookHandler(BaseHTTPRequestHandler):
    def _answer(self) -> None:
        recorder: HookRecorder = self.server.recorder
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {name.lower(): value for name, value in self.headers.items()}
        recorder.hits.append(Hit(self.command, self.path, headers, body))
        status = recorder.statuses.pop(0) if recorder.statuses else 204
        self.send_response(status)
        if 300 <= status < 400:
            self.send_header("Location", recorder.url("/redirected"))
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_POST = do_GET = _answer

    def log_message(self, format, *args) -> None:
        pass  # quiet tests


class HookServer(ThreadingHTTPServer):
    daemon_threads = True

    def verify_request(self, request, client_address) -> bool:
        self.recorder.connections += 1
        return True
