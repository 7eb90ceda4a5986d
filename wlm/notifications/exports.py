"""``?format=csv`` of the notices list and of the inbox (docs/api.md, "CSV columns"): the
JSON row's columns in its order, then the license's organization and location (ids and
names), partner and distributor names and the state's label, each in its own column.

Written by the serializer writer of ``wlm.lib.csv`` (streamed, in chunks of rows), not
from ``values()`` rows: a notice's ``deliveries`` are nested rows whose recipients are
masked by reader (``DeliverySerializer``), and an inbox item written before messages were
stored has its subject and text rendered when read (``messages.stored``). The names come
from the rows' joins (``NOTICE_CSV_RELATED``, ``INBOX_CSV_RELATED``): no query per row.
"""

from __future__ import annotations

from rest_framework import serializers

from wlm.notifications.filters import ShownState
from wlm.notifications.serializers import InboxItemSerializer, NotificationSerializer

NAMES = [
    "organization",
    "organization_name",
    "location",
    "location_name",
    "partner_name",
    "distributor_name",
]


def _names(license: str) -> dict[str, serializers.Field]:
    """The license's names, read through ``license`` (its path from the row)."""

    def field(path: str, kind=serializers.CharField):
        return kind(source=f"{license}.{path}", read_only=True, default=None)

    return {
        "organization": field("organization_id", serializers.IntegerField),
        "organization_name": field("organization.name"),
        "location": field("location_id", serializers.UUIDField),
        "location_name": field("location.name"),
        "partner_name": field("partner.name"),
        "distributor_name": field("distributor.name"),
    }


def _state_label(self, notice) -> str:
    return str(ShownState(notice.shown_state).label)


# the joins the names are read from: no query per row
NOTICE_CSV_RELATED = [
    "license__organization",
    "license__location",
    "license__partner",
    "license__distributor",
]

# a notice as a CSV row: its JSON row, then the names and ``state_label``
NotificationCSVSerializer = type(
    "NotificationCSVSerializer",
    (NotificationSerializer,),
    {
        **_names("license"),
        "state_label": serializers.SerializerMethodField(),
        "get_state_label": _state_label,
        "Meta": type(
            "Meta",
            (NotificationSerializer.Meta,),
            {"fields": [*NotificationSerializer.Meta.fields, *NAMES, "state_label"]},
        ),
        "__module__": __name__,
    },
)

INBOX_CSV_RELATED = ["notice__license__location"]

# an inbox item as a CSV row: its JSON row, then the license's names
InboxItemCSVSerializer = type(
    "InboxItemCSVSerializer",
    (InboxItemSerializer,),
    {
        **_names("notice.license"),
        "Meta": type(
            "Meta",
            (InboxItemSerializer.Meta,),
            {"fields": [*InboxItemSerializer.Meta.fields, *NAMES]},
        ),
        "__module__": __name__,
    },
)
