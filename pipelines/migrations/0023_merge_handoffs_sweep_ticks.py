"""Joins the queued hand-offs (0021) and the sweep ticks (0022), which were made side by side; no operation."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("pipelines", "0021_queued_handoffs"),
        ("pipelines", "0022_sweep_ticks"),
    ]

    operations: list[migrations.operations.base.Operation] = []
