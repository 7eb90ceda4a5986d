"""What a notice says, in English or Spanish (e-mail subject, plain text and HTML; the
webhook's JSON; the inbox shows the subject and the text).

The words live in templates, one per language (``templates/notifications/notice.<lang>.txt``
and ``.html``): a notice is read by customers, and a translator edits a whole text.

A message is rendered once per language when the notifier decides the notice, from the
state at that moment (the days really left, the names then), and stored on each delivery
(``render`` then ``for_delivery``): the e-mail, the webhook's subject, the inbox and the
API show what was sent, never a text rebuilt later from current names. The plain text is
text: the ``.txt`` templates do not escape (an e-mail's text part shows names as typed),
so whoever puts it in a page escapes it like any other value.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.template.loader import render_to_string

from wlm.lib import clock
from wlm.licenses.dates import local_date
from wlm.notifications import schedule
from wlm.notifications.models import Channel

LANGUAGES = ("en", "es")

SUBJECTS = {
    "en": {
        "before_end": "Your Wi-Fi license {key} ends on {end} ({when})",
        "imminent": "Your Wi-Fi license {key} ends {when}, {end}",  # today or tomorrow
        schedule.END: "Your Wi-Fi license {key} has ended: service is cut off",
        schedule.RENEWAL: "Renew your Wi-Fi license {key} to restore the service",
    },
    "es": {
        "before_end": "Su licencia Wi-Fi {key} termina el {end} ({when})",
        "imminent": "Su licencia Wi-Fi {key} termina {when}, {end}",  # hoy o mañana
        schedule.END: "Su licencia Wi-Fi {key} ha terminado: el servicio se ha cortado",
        schedule.RENEWAL: "Renueve su licencia Wi-Fi {key} para recuperar el servicio",
    },
}

# the days left in words: 0 and 1 by name; from 2 on the plural (in both languages the
# singular is for 1 only, said "tomorrow")
DAYS_LEFT = {
    "en": {0: "today", 1: "tomorrow", "more": "in {n} days"},
    "es": {0: "hoy", 1: "mañana", "more": "dentro de {n} días"},
}


@dataclass(frozen=True)
class Message:
    subject: str
    text: str
    html: str


def _language(language: str) -> str:
    return language if language in LANGUAGES else "en"


def days_left_words(days: int, language: str) -> str:
    """``days`` left before the end date, as a notice says it: "today", "tomorrow",
    "in 20 days" (or the Spanish)."""
    words = DAYS_LEFT[_language(language)]
    if days <= 1:
        return words[max(days, 0)]
    return words["more"].format(n=days)


def _moment(notice, at: dt.datetime | None) -> dt.datetime:
    return at or notice.decided_at or clock.now()


def context(notice, at: dt.datetime | None = None) -> dict:
    """What the templates name, as of ``at`` (default: when the notice was decided)."""
    license = notice.license
    today = local_date(_moment(notice, at), license.timezone)
    return {
        "number": notice.number,
        "key": license.key,
        "organization": license.organization.name if license.organization_id else "",
        # .all(): the worker prefetches them for the licenses it decides
        "locations": [a.location.name for a in license.assignments.all()],
        "end": notice.end_date.isoformat(),
        "due": notice.due.isoformat(),
        "distributor": license.distributor.name,
        "partner": license.partner.name,
        "before_end": notice.number < schedule.END,
        "ended": notice.number == schedule.END,
        "renewal": notice.number == schedule.RENEWAL,
        # from the local day of the sending, not from the day the notice was due for: a
        # notice caught up late tells the days really left
        "days_left": max((notice.end_date - today).days, 0),
    }


def _subject(notice, language: str, values: dict) -> str:
    subjects = SUBJECTS[language]
    if notice.number < schedule.END:
        days = values["days_left"]
        pattern = subjects["imminent" if days <= 1 else "before_end"]
        return pattern.format(key=values["key"], end=values["end"], when=values["when"])
    return subjects[notice.number].format(key=values["key"])


def render(notice, language: str, at: dt.datetime | None = None) -> Message:
    """The message of ``notice`` in ``language`` as of ``at`` (default: when it was
    decided). The text is a plain ``str``, not marked safe as ``render_to_string`` marks
    it: it holds names as typed, so it must never pass for HTML."""
    language = _language(language)
    values = context(notice, at)
    values["when"] = days_left_words(values["days_left"], language)
    text = render_to_string(f"notifications/notice.{language}.txt", values)
    return Message(
        subject=_subject(notice, language, values),
        text=str.__str__(text),  # a plain str: no longer marked safe
        html=render_to_string(f"notifications/notice.{language}.html", values),
    )


def for_delivery(message: Message, channel: str) -> dict[str, str]:
    """The fields of a delivery that keep ``message``: what its channel shows of it
    (a webhook sends only the subject; the inbox shows no HTML)."""
    return {
        "subject": message.subject,
        "text": "" if channel == Channel.WEBHOOK else message.text,
        "html": message.html if channel == Channel.EMAIL else "",
    }


def stored(delivery) -> Message:
    """What ``delivery`` said when its notice was decided. Rows written before messages
    were stored are rendered now, as of their notice's decision (current names)."""
    if delivery.subject:
        return Message(delivery.subject, delivery.text, delivery.html)
    return render(delivery.notice, delivery.language)


def payload(delivery) -> dict:
    """The webhook's JSON body (documented in docs/notifications.md)."""
    notice = delivery.notice
    values = context(notice)
    return {
        "id": str(delivery.key),
        "type": "license.notice",
        "notice": {
            "number": notice.number,
            "due": values["due"],
            "end_date": values["end"],
            "meaning": ("first", "second", "third", "fourth", "end", "renewal")[notice.number - 1],
        },
        "license": {
            "id": notice.license_id,
            "key": values["key"],
            "status": notice.license.status,
            "organization": values["organization"],
            "locations": values["locations"],
            "distributor": values["distributor"],
            "partner": values["partner"],
        },
        "subject": stored(delivery).subject,
        "language": _language(delivery.language),
    }
