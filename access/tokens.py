"""Create and revoke principals' tokens (``manage.py create_token`` / ``revoke_token``, ``manage.py bootstrap``)."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import transaction
from rest_framework.authtoken.models import Token

from access.models import Principal
from access.scopes import KINDS


class AccessError(Exception):
    """A token that cannot be created or revoked as asked; nothing was stored."""


@dataclass(frozen=True)
class Issued:
    name: str
    kind: str
    binding: str
    key: str


def _check_binding(kind: str, binding: str) -> None:
    from checkout import selectors

    if kind not in KINDS:
        raise AccessError(f"unknown kind {kind!r}; one of {', '.join(KINDS)}")
    binds = KINDS[kind].binds
    if not binds:
        if binding:
            raise AccessError(f"a {kind} principal acts for anyone; it takes no binding")
        return
    lookup = {"consumer": selectors.consumer, "restaurant": selectors.restaurant, "courier": selectors.courier}
    if not binding:
        raise AccessError(f"a {kind} principal is bound to one {binds}: give its id")
    if lookup[binds](binding) is None:
        raise AccessError(f"no {binds} {binding!r}")


NAME_LENGTH = 150  # Django's username column


def default_name(kind: str, binding: str) -> str:
    return f"{kind}-{binding}" if binding else kind


@transaction.atomic
def principal_for(name: str, kind: str, binding: str) -> Principal:
    """The principal ``name`` (created with its kind's scopes when new); refused if it is someone else."""
    if not 0 < len(name) <= NAME_LENGTH or not name.isprintable() or name != name.strip():
        raise AccessError(
            f"a principal's name is 1 to {NAME_LENGTH} printable characters, no space at either end, not {name[:40]!r}"
        )
    _check_binding(kind, binding)
    user, created = get_user_model().objects.get_or_create(username=name)
    if created:
        user.set_unusable_password()
        user.save()
    principal = Principal.objects.filter(user=user).first()
    if principal is None:
        if not created and user.has_usable_password():
            raise AccessError(f"user {name!r} exists and logs in with a password; choose another name")
        return Principal.objects.create(user=user, kind=kind, binding=binding, scopes=list(KINDS[kind].scopes))
    if (principal.kind, principal.binding) != (kind, binding):
        raise AccessError(f"{name!r} is already a {principal} principal")
    return principal


@transaction.atomic
def create_token(*, kind: str, binding: str = "", name: str = "") -> Issued:
    """A new token for the principal ``name`` (created if new); refused while it still holds one."""
    principal = principal_for(name or default_name(kind, binding), kind, binding)
    if Token.objects.filter(user=principal.user).exists():
        raise AccessError(f"{principal.user.get_username()!r} already holds a token; revoke it first")
    token = Token.objects.create(user=principal.user)
    return Issued(principal.user.get_username(), kind, binding, token.key)


@transaction.atomic
def ensure_token(*, kind: str, binding: str = "", name: str = "") -> Issued:
    """The principal's token, created if it has none (``manage.py bootstrap``: idempotent)."""
    principal = principal_for(name or default_name(kind, binding), kind, binding)
    token, _ = Token.objects.get_or_create(user=principal.user)
    return Issued(principal.user.get_username(), kind, binding, token.key)


@transaction.atomic
def revoke_token(name: str) -> int:
    """Delete the token of ``name`` (a principal, which stays, or a user given a token by hand); how many (0 or 1)."""
    if not get_user_model().objects.filter(username=name).exists():
        raise AccessError(f"no principal {name!r}")
    deleted, _ = Token.objects.filter(user__username=name).delete()
    return deleted
