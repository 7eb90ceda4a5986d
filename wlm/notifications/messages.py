"""What a notice says, in English or Spanish (e-mail subject, plain text and HTML; the
webhook's JSON; the inbox shows the subject and the text).

The words live in templates, one per language (``templates/notifications/notice.<lang>.txt``
and ``.html``): a notice is read by customers, and a translator edits a whole text.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.template.loader import render_to_string

from wlm.notifications import schedule

LANGUAGES = ("en", "es")

SUBJECTS = {
    "en": {
        schedule.FIRST: "Your Wi-Fi license {key} ends on {end} (in one month)",
        schedule.SECOND: "Your Wi-Fi license {key} ends on {end} (in 15 days)",
        schedule.THIRD: "Your Wi-Fi license {key} ends on {end} (in 7 days)",
        schedule.FOURTH: "Your Wi-Fi license {key} ends tomorrow, {end}",
        schedule.END: "Your Wi-Fi license {key} has ended: service is cut off",
        schedule.RENEWAL: "Renew your Wi-Fi license {key} to restore the service",
    },
    "es": {
        schedule.FIRST: "Su licencia Wi-Fi {key} termina el {end} (dentro de un mes)",
        schedule.SECOND: "Su licencia Wi-Fi {key} termina el {end} (dentro de 15 días)",
        schedule.THIRD: "Su licencia Wi-Fi {key} termina el {end} (dentro de 7 días)",
        schedule.FOURTH: "Su licencia Wi-Fi {key} termina mañana, {end}",
        schedule.END: "Su licencia Wi-Fi {key} ha terminado: el servicio se ha cortado",
        schedule.RENEWAL: "Renueve su licencia Wi-Fi {key} para recuperar el servicio",
    },
}


@dataclass(frozen=True)
class Message:
    subject: str
    text: str
    html: str


def _language(language: str) -> str:
    return language if language in LANGUAGES else "en"


def context(notice) -> dict:
    license = notice.license
    return {
        "number": notice.number,
        "key": license.key,
        "organization": license.organization.name if license.organization_id else "",
        # .all(): the worker prefetches them for a whole claim
        "locations": [a.location.name for a in license.assignments.all()],
        "end": notice.end_date.isoformat(),
        "due": notice.due.isoformat(),
        "distributor": license.distributor.name,
        "partner": license.partner.name,
        "before_end": notice.number < schedule.END,
        "ended": notice.number == schedule.END,
        "renewal": notice.number == schedule.RENEWAL,
        "days_left": (notice.end_date - notice.due).days,
    }


def render(notice, language: str) -> Message:
    language = _language(language)
    values = context(notice)
    subject = SUBJECTS[language][notice.number].format(key=values["key"], end=values["end"])
    return Message(
        subject=subject,
        text=render_to_string(f"notifications/notice.{language}.txt", values),
        html=render_to_string(f"notifications/notice.{language}.html", values),
    )


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
        "subject": render(notice, delivery.language).subject,
        "language": _language(delivery.language),
    }
