"""The ``ops`` group and its permissions: view every row and the console's screens, edit couriers' availability, run
remediation; idempotent.

Called by ``manage.py bootstrap`` (``make run``) and by the tests. Nothing here lets anyone add, change or
delete a checkpoint or ledger row: the console's ModelAdmins refuse those whatever the permissions say.
"""

from __future__ import annotations

from django.apps import apps
from django.contrib.auth.management import create_permissions
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import transaction

from pipelines import classify

OPS_GROUP = "ops"
RUN_REMEDIATION = "opsconsole.run_remediation"
# The console's own screens read across every model (a lineage shows each checkpoint of an order, the dashboard the
# parked items and the error sink): who may open them is a permission of its own, not each model's view permission.
VIEW_CONSOLE = "opsconsole.view_console"
# Reference data ops may edit from the console (a courier's availability); everything else is view-only.
EDITABLE_REFERENCE = (("checkout", "courier"),)


def ops_permissions() -> list[Permission]:
    """View on every classified model outside auth/sessions, change on editable reference data, remediation."""
    for config in apps.get_app_configs():
        # A fresh database gets its permissions on post_migrate; make sure they exist when called earlier.
        create_permissions(config, verbosity=0)
    wanted: list[tuple[str, str]] = []
    for model in apps.get_models():
        if model._meta.app_label in ("auth", "sessions", "contenttypes", "authtoken", "admin"):
            continue
        if classify(model) is None or "view" not in model._meta.default_permissions:
            continue
        wanted.append((model._meta.app_label, f"view_{model._meta.model_name}"))
    wanted += [(app, f"change_{name}") for app, name in EDITABLE_REFERENCE]
    wanted += [("opsconsole", "run_remediation"), ("opsconsole", "view_console")]
    found = []
    for app_label, codename in wanted:
        permission = Permission.objects.filter(content_type__app_label=app_label, codename=codename).first()
        if permission is not None:
            found.append(permission)
    return found


@transaction.atomic
def ensure_ops_group() -> Group:
    """Create the ``ops`` group (or bring its permissions back in line) and return it."""
    ContentType.objects.clear_cache()
    group, _ = Group.objects.get_or_create(name=OPS_GROUP)
    group.permissions.set(ops_permissions())
    return group
