"""Queued hand-offs: the pending messages of ``queue`` publications (pipelines.engine.queues)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("pipelines", "0020_partitions")]

    operations = [
        migrations.CreateModel(
            name="QueuedHandoff",
            fields=[
                ("id", models.UUIDField(editable=False, primary_key=True, serialize=False)),
                ("pipeline", models.CharField(max_length=100)),
                ("publication", models.CharField(max_length=200)),
                ("trace_id", models.UUIDField()),
                ("checkpoint_type", models.CharField(max_length=100)),
                ("checkpoint_id", models.UUIDField()),
                ("created_at", models.DateTimeField()),
                ("sent_at", models.DateTimeField()),
            ],
            options={
                "verbose_name": "queued hand-off",
                "verbose_name_plural": "queued hand-offs",
                "indexes": [
                    models.Index(fields=["pipeline"], name="queued_handoff_pipeline"),
                    models.Index(fields=["trace_id"], name="queued_handoff_trace"),
                    models.Index(fields=["sent_at"], name="queued_handoff_sent_at"),
                ],
            },
        ),
    ]
