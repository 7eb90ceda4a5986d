"""What a notice says, in English or Spanish (e-mail subject, plain text and HTML; the
webhook's JSON; the inbox shows the subject and the text).

The words live in two templates (``templates/notifications/notice.txt`` and ``.html``)
and the subjects here, all through Django's i18n like every page (docs/i18n.md): the
notice is rendered in its recipient's language with ``translation.override``.

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

from django.conf import settings
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext, ngettext

from wlm.lib import clock, languages
from wlm.licenses.dates import local_date
from wlm.notifications import schedule
from wlm.notifications.models import Channel


@dataclass(frozen=True)
class Message:
    subject: str
    text: str
    html: str


def days_left_words(days: int, language: str) -> str:
    """``days`` left before the end date, as a notice says it: "today", "tomorrow",
    "in 20 days" (or the Spanish)."""
    with translation.override(languages.supported(language)):
        if days <= 0:
            return gettext("today")
        if days == 1:
            return gettext("tomorrow")
        return ngettext("in %(count)d day", "in %(count)d days", days) % {"count": days}


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
        "request_url": renewal_request_url(license.pk),
    }


def renewal_request_url(license_id: int) -> str:
    """Where a notice's reader asks for the renewal: the request form for the license,
    prefilled (its partner's and organization's admins send it; the distributor's are
    taken to its own Renew form), at the service's public address."""
    return f"{settings.PUBLIC_URL}{reverse('requests:renewal', args=[license_id])}"


def _subject(notice, values: dict) -> str:
    """The subject, in the active language."""
    if notice.number < schedule.END:
        if values["days_left"] <= 1:  # today or tomorrow
            pattern = gettext("Your Wi-Fi license %(key)s ends %(when)s, %(end)s")
        else:
            pattern = gettext("Your Wi-Fi license %(key)s ends on %(end)s (%(when)s)")
        return pattern % {"key": values["key"], "end": values["end"], "when": values["when"]}
    if notice.number == schedule.END:
        return gettext("Your Wi-Fi license %(key)s has ended: service is cut off") % values
    return gettext("Renew your Wi-Fi license %(key)s to restore the service") % values


def render(notice, language: str, at: dt.datetime | None = None) -> Message:
    """The message of ``notice`` in ``language`` as of ``at`` (default: when it was
    decided). The text is a plain ``str``, not marked safe as ``render_to_string`` marks
    it: it holds names as typed, so it must never pass for HTML."""
    language = languages.supported(language)
    values = context(notice, at)
    values["when"] = days_left_words(values["days_left"], language)
    with translation.override(language):
        text = render_to_string("notifications/notice.txt", values)
        return Message(
            subject=_subject(notice, values),
            text=str.__str__(text),  # a plain str: no longer marked safe
            html=render_to_string("notifications/notice.html", values),
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
        "language": languages.supported(delivery.language),
    }
