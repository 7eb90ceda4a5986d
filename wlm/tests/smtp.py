"""A real SMTP server for tests (aiosmtpd): the ``smtp`` fixture of wlm/conftest.py keeps
every message Django's SMTP backend sends during a test."""

from __future__ import annotations

import email
import email.policy
import socket
from dataclasses import dataclass
from email.message import EmailMessage


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


@dataclass
class Mail:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes

    @property
    def message(self) -> EmailMessage:
        return email.message_from_bytes(self.raw, policy=email.policy.default)

    def header(self, name: str) -> str:
        """A header as it was sent (the default policy would repair a malformed one)."""
        return email.message_from_bytes(self.raw, policy=email.policy.compat32)[name]

    def part(self, content_type: str) -> str:
        (found,) = [p for p in self.message.walk() if p.get_content_type() == content_type]
        return found.get_content()


class SMTPRecorder:
    """An aiosmtpd handler: keeps every message it accepts; ``answer`` is what DATA gets."""

    def __init__(self) -> None:
        self.accepted: list[Mail] = []
        self.answer = "250 OK"
        self.port = 0

    async def handle_DATA(self, server, session, envelope):
        if not self.answer.startswith("250"):
            return self.answer
        self.accepted.append(Mail(envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return self.answer

    def to(self, address: str) -> list[Mail]:
        return [m for m in self.accepted if m.rcpt_tos == [address]]
