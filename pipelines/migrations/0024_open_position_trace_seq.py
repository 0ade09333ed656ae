"""The frontier triggers' probe (trace_number =, seq <) answered by one index (pipelines.store.open_positions)."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('pipelines', '0023_open_positions'),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name='openposition',
            name='open_position_trace',
        ),
        migrations.AddIndex(
            model_name='openposition',
            index=models.Index(fields=['trace_number', 'seq'], name='open_position_trace_seq'),
        ),
    ]
