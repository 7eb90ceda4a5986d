"""``manage.py create_token <username>``: a new API token of that user, its secret printed
(the only time it is shown; docs/api.md, "Authentication"). For scripts: the secret alone
on standard output (``make radius`` takes the demo gateway's this way)."""

from __future__ import annotations

import datetime as dt

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from wlm.lib import clock
from wlm.tenancy import tokens
from wlm.tenancy.models import TokenScope


class Command(BaseCommand):
    help = "Make a new API token of a user and print its secret (shown only now)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", default="manage.py create_token")
        parser.add_argument("--scope", choices=TokenScope.values, default=TokenScope.WRITE)
        parser.add_argument("--days", type=int, help="expires after this many days (default never)")

    def handle(self, *args, **options) -> None:
        user = get_user_model().objects.filter(username=options["username"]).first()
        if user is None or not user.is_active:
            raise CommandError(f"No active user {options['username']!r}.")
        days = options["days"]
        expires = clock.now() + dt.timedelta(days=days) if days is not None else None
        try:
            _token, key = tokens.issue(user, options["name"], options["scope"], expires)
        except ValidationError as error:
            raise CommandError("; ".join(error.messages)) from None
        self.stdout.write(key)
