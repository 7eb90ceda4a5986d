"""The FilterSets of the notices list, of the inbox (API, pages and CSV alike) and of the
settings page's delivery log."""

import django_filters
from django.db import models
from django.db.models import Case, Exists, OuterRef, Subquery, Value, When
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

from wlm.lib.filters import SearchFilterSet
from wlm.notifications.models import Channel, Delivery, DeliveryState, Notice, NoticeState
from wlm.notifications.schedule import NUMBERS


class ShownState(models.TextChoices):
    """A notice's state as people read it: its own state, then its deliveries'."""

    PENDING = "pending", _("Pending")  # scheduled, or decided with deliveries to go
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed")  # decided, and at least one delivery gave up
    SKIPPED = "skipped", _("Skipped")


def with_shown_state(notices: models.QuerySet) -> models.QuerySet:
    """``shown_state`` (ShownState) and ``sent_at`` (the latest delivery's) as columns of
    the one SELECT, so filtering, ordering and paging by them happen in the database."""
    deliveries = Delivery.objects.filter(notice=OuterRef("pk")).order_by()
    return notices.annotate(
        shown_state=Case(
            When(state=NoticeState.SCHEDULED, then=Value(ShownState.PENDING.value)),
            When(state=NoticeState.SKIPPED, then=Value(ShownState.SKIPPED.value)),
            When(
                Exists(deliveries.filter(state=DeliveryState.FAILED)),
                then=Value(ShownState.FAILED.value),
            ),
            When(
                Exists(deliveries.filter(state=DeliveryState.PENDING)),
                then=Value(ShownState.PENDING.value),
            ),
            default=Value(ShownState.SENT.value),
            output_field=models.CharField(),
        ),
        sent_at=Subquery(
            deliveries.filter(sent_at__isnull=False).order_by("-sent_at").values("sent_at")[:1],
            output_field=models.DateTimeField(),
        ),
    )


NUMBER_CHOICES = [(number, str(number)) for number in NUMBERS]


class NoticeFilterSet(SearchFilterSet):
    """Needs the queryset of ``with_shown_state``."""

    state = django_filters.MultipleChoiceFilter(
        field_name="shown_state", choices=ShownState.choices, distinct=False, label=_("State")
    )
    number = django_filters.TypedMultipleChoiceFilter(
        choices=NUMBER_CHOICES, coerce=int, distinct=False, label=_("Number")
    )
    due_after = django_filters.DateFilter(field_name="due", lookup_expr="gte", label=_("Due from"))
    due_before = django_filters.DateFilter(
        field_name="due", lookup_expr="lte", label=_("Due until")
    )

    class Meta:
        model = Notice
        fields = ["license", "number", "state"]
        search_fields = (
            "license__key",
            "license__organization__name",
            "license__location__name",
            "license__partner__name",
            "license__distributor__name",
        )


class InboxFilterSet(SearchFilterSet):
    unread = django_filters.TypedChoiceFilter(
        choices=[("true", "true"), ("false", "false")],
        coerce=lambda value: value == "true",
        method="filter_unread",
        label=_("Unread"),
    )

    class Meta:
        model = Delivery
        fields = ["unread"]
        search_fields = ("notice__license__key", "notice__license__organization__name")

    @extend_schema_field(OpenApiTypes.BOOL)
    def filter_unread(self, queryset, name, value):
        return queryset.filter(read_at__isnull=value)


class DeliveryLogFilterSet(django_filters.FilterSet):
    """The settings page's delivery log (docs/settings.md): by state and channel."""

    state = django_filters.ChoiceFilter(choices=DeliveryState.choices, label=_("State"))
    channel = django_filters.ChoiceFilter(choices=Channel.choices, label=_("Channel"))

    class Meta:
        model = Delivery
        fields = ["state", "channel"]
