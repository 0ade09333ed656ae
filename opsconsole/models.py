"""The console's own permission anchor: no table, only the ``run_remediation`` permission ops users hold."""

from __future__ import annotations

from django.db import models


class Console(models.Model):
    """Not a table (unmanaged): the content type that carries the console's custom permissions."""

    tpfgo_kind = "mutable"

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [("run_remediation", "Can run remediation pipelines from the ops console")]
