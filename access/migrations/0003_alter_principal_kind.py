from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('access', '0002_api_user_becomes_ops_principal'),
    ]

    operations = [
        migrations.AlterField(
            model_name='principal',
            name='kind',
            field=models.CharField(choices=[('ordering-client', 'ordering-client'), ('restaurant', 'restaurant'), ('courier', 'courier'), ('error-sink', 'error-sink'), ('subscriber', 'subscriber'), ('ops', 'ops'), ('ftgo-gateway', 'ftgo-gateway')], max_length=32),
        ),
    ]
