
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
    ]

    operations = [
        migrations.CreateModel(
            name='RevisedOrder',
            fields=[
                ('id', models.UUIDField(editable=False, primary_key=True, serialize=False)),
                ('trace_id', models.UUIDField(editable=False)),
                ('idempotency_key', models.CharField(editable=False, max_length=200)),
                ('business_key', models.CharField(editable=False, max_length=200)),
                ('contract_name', models.CharField(editable=False, max_length=100)),
                ('contract_version', models.PositiveIntegerField(editable=False)),
                ('created_at', models.DateTimeField(db_index=True, editable=False)),
                ('revision_id', models.UUIDField(editable=False)),
                ('order_id', models.UUIDField(db_index=True, editable=False)),
                ('lines', models.JSONField()),
                ('order_total', models.DecimalField(decimal_places=2, max_digits=12)),
                ('currency', models.CharField(max_length=3)),
            ],
            options={
                'ordering': ['created_at'],
                'abstract': False,
                'constraints': [models.UniqueConstraint(fields=('revision_id',), name='revised_order_revisedorder_bk')],
            },
        ),
    ]
