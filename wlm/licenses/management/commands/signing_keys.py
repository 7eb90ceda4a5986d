"""``manage.py signing_keys``: the keys that sign licenses (wlm.licenses.signing).

- ``list`` (default): each key's ``kid``, the signing one marked;
- ``rotate``: a new signing key; the old ones keep verifying the tokens they signed
  (server processes sign with the new one once restarted).
"""

from django.core.management.base import BaseCommand

from wlm.licenses import signing


class Command(BaseCommand):
    help = "List the license signing keys, or rotate: add a new signing key."

    def add_arguments(self, parser):
        parser.add_argument("action", nargs="?", choices=["list", "rotate"], default="list")

    def handle(self, *args, action="list", **options):
        if action == "rotate":
            key = signing.rotate()
            self.stdout.write(f"New signing key {key.kid}; restart the server to sign with it.")
        current = signing.signing_key().kid
        for jwk in signing.jwks()["keys"]:
            mark = "signing" if jwk["kid"] == current else "verifies"
            self.stdout.write(f"{jwk['kid']}  {mark}")
