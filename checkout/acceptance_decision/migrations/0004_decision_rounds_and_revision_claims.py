
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('acceptance_decision', '0003_order_id_business_key'),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name='acceptancedecision',
            name='acceptance_decision_acceptancedecision_bk',
        ),
        migrations.AddField(
            model_name='acceptancedecision',
            name='revision_id',
            field=models.UUIDField(null=True),
        ),
        migrations.AddField(
            model_name='acceptancedecision',
            name='round',
            field=models.PositiveIntegerField(default=1),
        ),
        migrations.AddConstraint(
            model_name='acceptancedecision',
            constraint=models.UniqueConstraint(fields=('order_id', 'round'), name='acceptance_decision_round_bk'),
        ),
    ]
