"""``manage.py generate_load``: platform-scale data for ``make bench`` (wlm.demo.load)."""

import json
import sys

from django.core.management.base import BaseCommand

from wlm.demo import load


class Command(BaseCommand):
    help = "Write N locations, each with a license in a realistic mix of statuses (benchmarks)."

    def add_arguments(self, parser):
        parser.add_argument("--locations", type=int, default=10_000)
        parser.add_argument(
            "--pending-share", type=float, default=0.1, help="Share pending start (0-1)."
        )
        parser.add_argument(
            "--other-share",
            type=float,
            default=0.1,
            help="Share pending provision, denied or finalized (0-1).",
        )
        parser.add_argument("--seed", type=int, default=2026)
        parser.add_argument(
            "--history",
            type=int,
            default=0,
            help="Earlier, finalized licenses per location (1,000,000 licenses = "
            "200,000 locations with --history 4).",
        )
        parser.add_argument(
            "--manifest",
            help="Write a JSON file with the gateway token and the location ids by status.",
        )

    def handle(self, *args, **options):
        total = options["locations"]

        def progress(done: int) -> None:
            width = 30
            filled = width * done // total
            sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done:,}/{total:,}")
            if done == total:
                sys.stderr.write("\n")

        summary = load.generate(
            total,
            options["pending_share"],
            options["other_share"],
            options["seed"],
            progress,
            options["history"],
        )
        for status, count in sorted(summary.statuses.items()):
            self.stdout.write(f"{status:<20} {count:>9,}")
        if summary.history:
            self.stdout.write(f"{'earlier (finalized)':<20} {summary.history:>9,}")
        self.stdout.write(f"gateway token: {summary.gateway_token}")
        if options["manifest"]:
            with open(options["manifest"], "w") as file:
                json.dump(
                    {"gateway_token": summary.gateway_token, "locations": summary.locations},
                    file,
                )
