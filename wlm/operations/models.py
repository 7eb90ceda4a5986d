"""The notifiers' heartbeats: one row per notifier process, wherever it runs.

Each ``manage.py notifier`` upserts its row (host, pid) at every pass and between its
batches (``wlm.operations.services.Pulse``); ``/readyz`` reads the freshest rows
(``wlm.operations.probes``). Several notifiers on several machines each have their own
row, so one of them stopping does not hide behind another's beats in the metrics
(``wlm_notifiers_alive``). Rows of processes gone for a week are deleted when a notifier
starts.
"""

from django.db import models


class Heartbeat(models.Model):
    host = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    beat_at = models.DateTimeField()
    # the notifier's seconds between passes: its beats are stale after a few of these
    interval = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["host", "pid"], name="heartbeat_host_pid_unique")
        ]
        # the freshest first (/readyz, the metrics), and the old ones to delete
        indexes = [models.Index(fields=["beat_at"], name="heartbeat_beat_at_idx")]

    def __str__(self) -> str:
        return f"notifier {self.host}:{self.pid} at {self.beat_at:%Y-%m-%d %H:%M:%S}"
