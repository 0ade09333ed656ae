"""Local access for a first run: the ``ops`` staff user, its group, and an API token per demo role.

The ``api`` user is the ops principal (every scope); the others act for the demo data's alice, Chez Manuel and
courier Max (the ones that take events by hand), the error-sink forwarder and the FTGO gateway.

Everything here is idempotent, so ``make run`` can call it on every start.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import transaction

from access.tokens import AccessError, Issued, ensure_token
from opsconsole.ops_group import ensure_ops_group

OPS_USERNAME = "ops"
# A fixed password for a local first run only (it is in the README); production sets TPFGO_OPS_PASSWORD, and
# `manage.py check --deploy` warns while the ops user logs in with it (tpfgo_site.W002).
DEFAULT_OPS_PASSWORD = "tpfgo-ops-local"  # noqa: S105
API_USERNAME = "api"
# (kind, binding, principal name): one token per demo role; bound ones need the demo data (manage.py load_demo).
DEMO_ROLES = (
    ("ops", "", API_USERNAME),
    ("ordering-client", "alice", "demo-ordering-client"),
    ("restaurant", "chez-manuel", "demo-restaurant"),
    ("courier", "courier-max", "demo-courier"),
    ("error-sink", "", "demo-error-sink"),
    ("ftgo-gateway", "", "demo-ftgo-gateway"),
    ("subscriber", "", "demo-subscriber"),
    ("search-client", "", "demo-search-client"),
)


@dataclass(frozen=True)
class LocalAccess:
    ops_username: str
    ops_password: str  # empty: the password the user had, kept
    tokens: tuple[Issued, ...]
    skipped: tuple[str, ...]  # demo roles without a token, and why (no demo data)


@transaction.atomic
def ensure_local_access(ops_password: str | None) -> LocalAccess:
    """Create (or bring back in line) the ``ops`` staff user and a token per demo role.

    ``ops_password`` None (``TPFGO_OPS_PASSWORD`` unset): a new user gets the README's default, an existing one keeps
    the password it has, which an operator may have changed in the console; given, it is the user's password."""
    users = get_user_model()
    group = ensure_ops_group()
    ops, created = users.objects.get_or_create(username=OPS_USERNAME)
    wanted = DEFAULT_OPS_PASSWORD if created and ops_password is None else ops_password
    if not ops.is_staff or ops.is_superuser or not ops.is_active or created:
        ops.is_staff, ops.is_superuser, ops.is_active = True, False, True
        ops.save()
    if wanted is not None and (created or not ops.check_password(wanted)):
        ops.set_password(wanted)
        ops.save()
    ops.groups.add(group)
    tokens, skipped = [], []
    for kind, binding, name in DEMO_ROLES:
        try:
            tokens.append(ensure_token(kind=kind, binding=binding, name=name))
        except AccessError as exc:
            skipped.append(f"{name}: {exc}")
    return LocalAccess(OPS_USERNAME, wanted or "", tuple(tokens), tuple(skipped))
