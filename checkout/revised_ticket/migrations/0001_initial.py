
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
    ]

    operations = [
        migrations.CreateModel(
            name='RevisedTicket',
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
                ('kitchen_ticket_id', models.UUIDField()),
                ('lines', models.JSONField()),
            ],
            options={
                'ordering': ['created_at'],
                'abstract': False,
                'constraints': [models.UniqueConstraint(fields=('revision_id',), name='revised_ticket_revisedticket_bk')],
            },
        ),
    ]
