"""How long the change log is kept."""

import datetime as dt

# Every server process reads the log at least every ``Entitlements.stale_after`` (60 s) or
# forgets what it holds; an hour is far beyond that. The notifier's retention deletes older
# rows (wlm.retention), in the database's own time, as the triggers write ``at``.
KEEP = dt.timedelta(hours=1)
