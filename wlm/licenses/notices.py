"""The license view's notices: the page's Notifications tab and the API detail's
``notifications``, read by the app that owns them.

Notices live in ``wlm.notifications``, which sits above licenses (it reads licenses to
plan and word its notices), so licenses does not import it: notifications hands its
reader over when it loads (``NotificationsConfig.ready`` calls ``provide``) and the
license view asks ``reader()``. The dependency is this one hand-over, named on both sides.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.core.exceptions import ImproperlyConfigured


@dataclass(frozen=True)
class NoticesReader:
    # for the license view's queryset: the notices and their deliveries in one query
    prefetch: Callable[[], object]
    # (license, user) -> the lines, ordered, recipients masked for the user, with labels
    lines: Callable[..., list[dict]]
    # the API's shape of one line
    serializer: type


_reader: NoticesReader | None = None


def provide(reader: NoticesReader) -> None:
    global _reader
    _reader = reader


def reader() -> NoticesReader:
    if _reader is None:
        raise ImproperlyConfigured("The license view's notices need wlm.notifications installed.")
    return _reader
