"""The dashboard on generated data (docs/performance.md): its latest notices, read from
the inbox's own index (the item's ``sent_at``), are the first items of the inbox as it
was ordered before, through the notice's decision time; the licenses it counts are
those of the plain join, for every tenant."""

import pytest

from wlm.dashboard import views
from wlm.licenses.models import License
from wlm.notifications.tests.test_lists_at_scale import (  # noqa: F401
    WHO,
    inbox_reference,
    scale,
    seen_licenses,
)

pytestmark = pytest.mark.django_db


def test_the_latest_notices_are_the_first_of_the_inbox(scale):  # noqa: F811
    for who in WHO:
        recent = views._recent_notices(scale[who])
        assert recent["source"] == "inbox", who
        expected = inbox_reference(scale[who], {})[: views.RECENT_NOTICES]
        assert [item.pk for item in recent["items"]] == expected, who


def test_each_tenant_sees_the_licenses_of_the_plain_join(scale):  # noqa: F811
    """The dashboard's figures count ``License.objects.visible_to``: a partner's licenses
    (its ``partner`` column) are those of the join through the organizations too, its
    requests' and its customers' (generated data keeps the rule the services keep)."""
    for who in WHO:
        visible = License.objects.visible_to(scale[who]).values_list("pk", flat=True)
        assert sorted(visible) == sorted(seen_licenses(scale[who]).values_list("pk", flat=True))
