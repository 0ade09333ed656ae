"""Local access for a first run: the ``ops`` staff user, its group, and an API token for the ``api`` user.

Everything here is idempotent, so ``make run`` can call it on every start.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import transaction
from rest_framework.authtoken.models import Token

from opsconsole.setup import ensure_ops_group

OPS_USERNAME = "ops"
API_USERNAME = "api"


@dataclass(frozen=True)
class LocalAccess:
    ops_username: str
    ops_password: str
    api_username: str
    api_token: str


@transaction.atomic
def ensure_local_access(ops_password: str) -> LocalAccess:
    """Create (or bring back in line) the ``ops`` staff user and the ``api`` token user."""
    users = get_user_model()
    group = ensure_ops_group()
    ops, _ = users.objects.get_or_create(username=OPS_USERNAME)
    if not ops.is_staff or ops.is_superuser or not ops.is_active or not ops.check_password(ops_password):
        ops.is_staff, ops.is_superuser, ops.is_active = True, False, True
        ops.set_password(ops_password)
        ops.save()
    ops.groups.add(group)

    api, created = users.objects.get_or_create(username=API_USERNAME)
    if created:
        api.set_unusable_password()
        api.save()
    token, _ = Token.objects.get_or_create(user=api)
    return LocalAccess(OPS_USERNAME, ops_password, API_USERNAME, token.key)
