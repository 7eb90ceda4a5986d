"""The WSGI application: the data plane's lean path in front of Django (wlm.dataplane)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wlm.settings")
django_application = get_wsgi_application()

from wlm.dataplane.front import DataPlaneFront  # noqa: E402 (needs the apps loaded)

application = DataPlaneFront(django_application)
