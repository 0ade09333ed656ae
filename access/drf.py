"""DRF's side of access: the token authentication (with the principal in the same query) and the scope permission.

``ScopePermission`` is the project's ``DEFAULT_PERMISSION_CLASSES``: every ``/api/v1/`` view asks it, whatever
its transport (REST, protobuf-over-HTTP, or the FUNCTION handler, which calls the same views).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from rest_framework.authentication import TokenAuthentication
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from access.scopes import Rule, http_rule

if TYPE_CHECKING:
    from rest_framework.views import APIView


class PrincipalTokenAuthentication(TokenAuthentication):
    """DRF's ``Authorization: Token <key>``, loading the token's user and principal in one query."""

    def authenticate_credentials(self, key: str) -> tuple[Any, Any]:
        model: Any = self.get_model()
        try:
            token = model.objects.select_related("user", "user__principal").get(key=key)
        except model.DoesNotExist:
            return super().authenticate_credentials(key)  # DRF's own refusal and message
        if not token.user.is_active:
            return super().authenticate_credentials(key)
        return token.user, token


def body_value(request: Request, rule: Rule) -> tuple[Any, bool]:
    """The body field ``rule`` names (camelCase; its protobuf twin in snake case), and whether the body could be
    read as an object at all."""
    from checkout.api.protobuf import ProtoData

    data = request.data
    if isinstance(data, ProtoData):
        return getattr(data.message, re.sub("([A-Z])", r"_\1", rule.field).lower(), None), True
    if isinstance(data, Mapping):
        return data.get(rule.field), True
    return None, False


def decide_request(request: Request, view: APIView | None) -> None:
    """Raise ``Denied`` unless the request's principal may call this route (``view.kwargs`` hold the URL ids)."""
    from access.decisions import decide, principal_of  # models: imported once the apps are ready

    match = request.resolver_match
    rule = http_rule(match.url_name if match else None, request.method or "GET")
    principal = principal_of(request.user)
    value, known = None, True
    # The body is read only when the owner is all that is left to decide (a missing scope is refused first).
    owner_left = principal is not None and rule.scope in principal.scopes and principal.binding
    if owner_left and rule.owner and not rule.bulk:
        kwargs = getattr(view, "kwargs", None) or (match.kwargs if match else {})
        if rule.field in kwargs:
            value = kwargs[rule.field]
        else:
            value, known = body_value(request, rule)
    decide(principal, rule, value, known=known)


class ScopePermission(BasePermission):
    """Authenticated, holding the route's scope, and (when bound) touching only its own resources.

    An anonymous request is refused here with ``False``, so DRF answers 401; a denied principal raises
    ``Denied`` (403 ``PERMISSION_DENIED`` with the reason). ``OPTIONS`` and a method the view does not serve ask
    no scope (docs/api.md).
    """

    def has_permission(self, request: Request, view: APIView) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        method = request.method or "GET"
        if method == "OPTIONS" or not hasattr(view, method.lower()):
            # Neither is a call: OPTIONS describes the route (DRF's metadata, what the open schema says of it, and
            # the Allow header), and a method the route does not serve is 405. No scope is due (docs/api.md).
            return True
        # DRF asks twice per request (ApiView.initial asks before the call-shape check, then APIView.initial).
        if not getattr(request, "_access_decided", False):
            decide_request(request, view)
            request._access_decided = True  # type: ignore[attr-defined]
        return True
