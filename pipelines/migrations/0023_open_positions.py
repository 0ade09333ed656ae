"""The sweeper's frontier: ``OpenPosition`` (kept by triggers, ``pipelines.store.open_positions``) and ``FlowRule``."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('pipelines', '0022_sweep_ticks'),
    ]

    operations = [
        migrations.CreateModel(
            name='FlowRule',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('kind', models.CharField(max_length=20)),
                ('name', models.CharField(max_length=200)),
                ('other', models.CharField(blank=True, max_length=100)),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('kind', 'name', 'other'), name='flow_rule_once')],
            },
        ),
        migrations.CreateModel(
            name='OpenPosition',
            fields=[
                ('seq', models.BigIntegerField(primary_key=True, serialize=False)),
                ('trace_number', models.BigIntegerField()),
                ('trace_id', models.UUIDField()),
                ('pipeline', models.CharField(max_length=100)),
                ('created_at', models.DateTimeField()),
                ('trace_created_at', models.DateTimeField()),
            ],
            options={
                'indexes': [models.Index(fields=['trace_number'], name='open_position_trace'), models.Index(fields=['created_at'], name='open_position_created')],
            },
        ),
    ]
