"""FTGO gateway principals made before the ``ftgo:register`` scope existed get it (the /ftgo/ registration routes)."""

from django.db import migrations

SCOPE = "ftgo:register"


def add_scope(apps, schema_editor):
    Principal = apps.get_model("access", "Principal")
    for principal in Principal.objects.filter(kind="ftgo-gateway"):
        if SCOPE not in principal.scopes:
            principal.scopes = [*principal.scopes, SCOPE]
            principal.save(update_fields=["scopes"])


def remove_scope(apps, schema_editor):
    Principal = apps.get_model("access", "Principal")
    for principal in Principal.objects.filter(kind="ftgo-gateway"):
        if SCOPE in principal.scopes:
            principal.scopes = [s for s in principal.scopes if s != SCOPE]
            principal.save(update_fields=["scopes"])


class Migration(migrations.Migration):
    dependencies = [("access", "0003_principal_kind_subscriber")]

    operations = [migrations.RunPython(add_scope, remove_scope)]
