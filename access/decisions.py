"""The one permission decision, asked by DRF (REST, protobuf-over-HTTP, FUNCTION) and by the gRPC boundary.

A principal may make a call when it holds the route's scope and, if it is bound to a consumer, restaurant or
courier, when the resource the call touches belongs to that binding. A resource that does not exist is left to
the route (it answers NOT_FOUND); someone else's order, ticket or dispatch answers a bound principal that same
NOT_FOUND, so it cannot tell an id of someone else's from one that names nothing (order ids derive from
idempotency keys, which clients often number). So does an order the retention policy purged: its tombstone keeps
no owner, so a bound principal, the one whose order it was included, is answered as for an id that names nothing;
``PURGED`` is for principals bound to no one (ops, the FTGO gateway).
"""

from __future__ import annotations

import uuid
from typing import Any

from access.models import Principal
from access.scopes import KINDS, Rule
from pipelines import NotFound, ServiceError, tombstone


class Denied(ServiceError):
    code = "PERMISSION_DENIED"


# Resources a bound principal may not learn exist when they are someone else's: the ids of orders, tickets and
# dispatches. A consumer or courier id in a body or URL is refused with PERMISSION_DENIED.
HIDDEN = frozenset({"order", "ticket", "dispatch"})


def principal_of(user: object) -> Principal | None:
    # A user without a principal raises RelatedObjectDoesNotExist, an AttributeError: getattr's default.
    principal = getattr(user, "principal", None)
    return principal if isinstance(principal, Principal) else None


def _uuid(value: object) -> uuid.UUID | None:
    from checkout.services import read_id  # the routes' own reading of an id

    return read_id(value)


def _purged(value: object) -> bool:
    parsed = _uuid(value)
    return parsed is not None and tombstone(parsed) is not None


def owner_of(owner: str, value: object) -> tuple[str, str] | None:
    """(binding kind, id) of whoever owns the resource ``value`` names; None when there is no such resource."""
    from checkout.courier_reassigned.models import CourierReassigned
    from checkout.delivery_assigned.models import DeliveryAssigned
    from checkout.order_request.models import OrderRequest
    from checkout.ticket_created.models import TicketCreated

    if owner in ("consumer", "courier"):
        return (owner, str(value)) if value not in (None, "") else None
    lookups: dict[str, tuple[Any, str, str, str]] = {
        "order": (OrderRequest, "order_id", "consumer_id", "consumer"),
        "ticket": (TicketCreated, "kitchen_ticket_id", "restaurant_id", "restaurant"),
        "dispatch": (DeliveryAssigned, "dispatch_id", "courier_id", "courier"),
    }
    model, key, column, kind = lookups[owner]
    parsed = _uuid(value)
    if parsed is None:
        return None
    if owner == "dispatch":
        # The delivery's courier: the one an overdue pickup was reassigned to (same dispatch id), else the assigned.
        assigned = DeliveryAssigned.objects.filter(dispatch_id=parsed).values_list("order_id", "courier_id").first()
        if assigned is None:
            return None
        moved = CourierReassigned.objects.filter(order_id=assigned[0], dispatch_id=parsed)
        return (kind, moved.values_list("courier_id", flat=True).first() or assigned[1])
    found = model.objects.filter(**{key: parsed}).values_list(column, flat=True).first()
    return None if found is None else (kind, found)


def decide(principal: Principal | None, rule: Rule, value: object = None, *, known: bool = True) -> None:
    """Raise ``Denied`` unless ``principal`` may make a call that asks for ``rule`` on the resource ``value``.

    ``known=False``: the call's resource could not be read (a malformed body); the route refuses it anyway.
    """
    if principal is None:
        raise Denied("this token belongs to no principal; create one with manage.py create_token")
    # ``admin`` holds every scope, those added after the principal was created included (ops keeps all routes).
    if rule.scope not in principal.scopes and "admin" not in principal.scopes:
        raise Denied(f"a token of kind {principal.kind} lacks the scope {rule.scope}")
    if not principal.binding or (not rule.owner and not rule.bulk and not rule.unbound):
        return
    binds = KINDS[principal.kind].binds
    if rule.unbound:
        raise Denied(f"a token of kind {principal.kind} acts for one {binds}; FTGO's routes are for the FTGO gateway")
    if rule.bulk:
        raise Denied(
            f"a token of kind {principal.kind} acts for one {binds}; this call carries many: use the unary one"
        )
    if not known:
        return
    owner = owner_of(rule.owner, value)
    if owner is None and rule.owner == "order" and _purged(value):  # whose it was is not kept: anyone's, as unknown
        raise NotFound(f"order {value} not found")
    if owner is None and rule.owner in ("consumer", "courier"):
        raise Denied(f"a token of kind {principal.kind} acts for {binds} {principal.binding} only")
    if owner is not None and owner != (binds, principal.binding):
        if rule.owner in HIDDEN:  # the route's own answer for an id that names nothing (checkout/services.py)
            raise NotFound(f"{rule.owner} {value} not found")
        raise Denied(f"a token of kind {principal.kind} acts for {binds} {principal.binding} only")
