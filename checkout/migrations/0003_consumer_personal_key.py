# Each existing consumer gets a key of their own (a default on AddField would give all of them the same one).

from django.db import migrations, models

import checkout.models


def give_keys(apps, schema_editor):
    Consumer = apps.get_model("checkout", "Consumer")
    for consumer in Consumer.objects.filter(personal_key__isnull=True).only("id"):
        Consumer.objects.filter(pk=consumer.pk).update(personal_key=checkout.models.new_personal_key())


class Migration(migrations.Migration):
    dependencies = [
        ("checkout", "0002_derived_tables"),
    ]

    operations = [
        migrations.AddField(
            model_name="consumer",
            name="personal_key",
            field=models.BinaryField(editable=False, null=True),
        ),
        migrations.RunPython(give_keys, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="consumer",
            name="personal_key",
            field=models.BinaryField(default=checkout.models.new_personal_key, editable=False, null=True),
        ),
    ]
