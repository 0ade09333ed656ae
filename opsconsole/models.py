"""The console's own tables: the permission anchor, and the funnel's per-day counts folded from the checkpoint log.

``FunnelDay`` and ``FunnelFold`` are derived, mutable and written only by ``opsconsole.funnel.fold`` (a periodic
task): never on the engine's write path. They can be emptied and rebuilt from the checkpoint log at any time.
"""

from __future__ import annotations

from django.db import models


class Console(models.Model):
    """Not a table (unmanaged): the content type that carries the console's custom permissions."""

    tpfgo_kind = "mutable"

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [
            ("run_remediation", "Can run remediation pipelines from the ops console"),
            ("view_console", "Can view the ops console's own screens (dashboard, lineage, error groups, pauses)"),
        ]


class FunnelDay(models.Model):
    """Orders (distinct traces) that reached ``checkpoint_type`` on ``day``, counted over the folded log rows."""

    tpfgo_kind = "mutable"

    day = models.DateField()
    checkpoint_type = models.CharField(max_length=100)
    orders = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = "funnel day"
        verbose_name_plural = "funnel days"
        constraints = [models.UniqueConstraint(fields=["day", "checkpoint_type"], name="funnel_day_type")]

    def __str__(self) -> str:
        return f"{self.day} {self.checkpoint_type}: {self.orders}"


class FunnelFold(models.Model):
    """How far the log is folded into ``FunnelDay`` (every row with ``seq <= folded_seq``), and the next safe bound.

    PostgreSQL hands out a log ``seq`` before the row's transaction commits, so a lower seq can become visible after
    a higher one. A run records the sequence's position and the ids of this database's open transactions
    (``mark_seq``, ``mark_xids``); a later run folds up to ``mark_seq`` once none of those is open any more.
    """

    tpfgo_kind = "mutable"

    name = models.CharField(max_length=40, primary_key=True)
    folded_seq = models.BigIntegerField(default=0)
    mark_seq = models.BigIntegerField(null=True)
    mark_xids = models.JSONField(default=list)
    folded_at = models.DateTimeField(null=True)

    class Meta:
        verbose_name = "funnel fold"
        verbose_name_plural = "funnel folds"

    def __str__(self) -> str:
        return f"{self.name}: folded up to seq {self.folded_seq}"
