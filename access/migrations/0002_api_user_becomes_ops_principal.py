"""The ``api`` user that ``manage.py bootstrap`` created before principals existed keeps every scope (ops)."""

from django.conf import settings
from django.db import migrations

# The ops kind's scopes when principals were introduced (access/scopes.py then).
OPS_SCOPES = [
    "orders:place",
    "orders:read",
    "orders:cancel",
    "orders:revise",
    "tickets:decide",
    "deliveries:complete",
    "couriers:availability",
    "restaurants:read",
    "reference:read",
    "reference:write",
    "errors:write",
    "admin",
]


def api_user_is_ops(apps, schema_editor):
    User = apps.get_model(settings.AUTH_USER_MODEL)
    Principal = apps.get_model("access", "Principal")
    api = User.objects.filter(username="api").first()
    if api is not None and not Principal.objects.filter(user=api).exists():
        Principal.objects.create(user=api, kind="ops", binding="", scopes=OPS_SCOPES)


class Migration(migrations.Migration):
    dependencies = [("access", "0001_principal"), migrations.swappable_dependency(settings.AUTH_USER_MODEL)]

    operations = [migrations.RunPython(api_user_is_ops, migrations.RunPython.noop)]
