"""The ops actions as the console offers them: labels, who may run them, their form parameters, confirm-page links.

A thin adapter over ``checkout.ops_actions``, which owns what each action means for an order (preview, execute,
the ``OpsAction`` record); the console only asks for a preview, shows it, and executes with who and why. Nothing
here runs inside a transaction: the engine's durable transactions refuse to nest.

Another domain's traces (the search lane's queries, docs/lanes.md) are remediated by that domain's module of the
same shape, listed in ``TPFGO_OPS_ACTION_DOMAINS``: a trace goes to the first listed module whose ``owns(trace_id)``
says it is its own, else to ``checkout.ops_actions``.
"""

from __future__ import annotations

import importlib
import uuid
from collections.abc import Iterable
from types import ModuleType
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractUser, AnonymousUser
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.http import urlencode

from opsconsole.ops_group import RUN_REMEDIATION

LABELS = {
    "redrive": "Redrive",
    "assign-courier": "Assign a courier",
    "ops-cancel": "Cancel (void or refund)",
    "resolve-payment-review": "Resolve payment review",
    "fork": "Fork from a checkpoint",
}
# The choice an action needs before it can be previewed, and how the confirm page asks for it.
CHOICES = {
    "assign-courier": ("courier_id", "Choose a courier"),
    "resolve-payment-review": ("approved", "Choose approve or decline"),
}
# Actions started from one checkpoint of an order (its lineage page), not from the order as a whole.
PER_CHECKPOINT = frozenset({"fork"})
# One confirm page handles at most this many orders.
MAX_ORDERS = 50
TRUE_WORDS = frozenset({"1", "true", "yes", "on", "approved", "approve"})
FALSE_WORDS = frozenset({"0", "false", "no", "off", "declined", "decline"})


def api() -> ModuleType | None:
    """``checkout.ops_actions`` if this build has it, else None (the console then says so)."""
    try:
        return importlib.import_module("checkout.ops_actions")
    except ModuleNotFoundError as exc:
        if exc.name in ("checkout.ops_actions", "checkout"):
            return None
        raise


def for_trace(trace_id: uuid.UUID) -> ModuleType | None:
    """The module that remediates ``trace_id``: another domain's that owns it, else ``checkout.ops_actions``."""
    for path in getattr(settings, "TPFGO_OPS_ACTION_DOMAINS", ()):
        module = importlib.import_module(path)
        if module.owns(trace_id):
            return module
    return api()


def actions() -> list[str]:
    module = api()
    if module is None:
        return []
    return [str(name) for name in module.ACTIONS]


def label(action: str) -> str:
    return LABELS.get(action, action.replace("-", " ").capitalize())


def can_remediate(user: AbstractUser | AnonymousUser) -> bool:
    return bool(user.is_active and user.is_staff and user.has_perm(RUN_REMEDIATION))


def params_from(action: str, data: Any) -> dict[str, Any]:
    """The action's parameters from a GET or POST (``courier_id``, ``approved``, a fork's ``checkpoint_id`` and
    ``new_effect_keys``); absent ones are left out."""
    params: dict[str, Any] = {}
    if action == "assign-courier" and data.get("courier_id"):
        params["courier_id"] = str(data["courier_id"])
    if action == "fork":
        if data.get("checkpoint_id"):
            params["checkpoint_id"] = str(data["checkpoint_id"])
        params["new_effect_keys"] = str(data.get("new_effect_keys", "")).strip().lower() in TRUE_WORDS
    if action == "resolve-payment-review":
        raw = str(data.get("approved", "")).strip().lower()
        if raw in TRUE_WORDS:
            params["approved"] = True
        elif raw in FALSE_WORDS:
            params["approved"] = False
    return params


def order_ids(values: Iterable[str], cap: int = MAX_ORDERS) -> list[uuid.UUID]:
    out: list[uuid.UUID] = []
    for value in values:
        try:
            parsed = uuid.UUID(str(value))
        except ValueError:
            continue
        if parsed not in out:
            out.append(parsed)
    return out[:cap]


def confirm_url(action: str, orders: Iterable[Any], **params: object) -> str:
    query = [("order", str(o)) for o in orders] + [(k, str(v)) for k, v in params.items()]
    return f"{reverse('ops:remediation', args=[action])}?{urlencode(query)}"


def bulk_url(action: str, **query: object) -> str:
    """The bulk preview page of ``action`` for the orders these filters select (see ``checkout.bulk_selection``)."""
    pairs = [(k, str(v)) for k, v in query.items() if v not in (None, "")]
    return f"{reverse('ops:bulk_remediation', args=[action])}?{urlencode(pairs)}"


def first_orders(trace_ids: Iterable[Any], cap: int = MAX_ORDERS) -> list[Any]:
    """The distinct orders of the selected rows in their order, one more than ``cap`` at most (are there more?):
    a selection of a whole list is read only until then."""
    found: dict[Any, None] = {}
    for trace_id in trace_ids:
        found.setdefault(trace_id)
        if len(found) > cap:
            break
    return list(found)


def redirect_to_confirm(action: str, trace_ids: Iterable[Any]) -> HttpResponseRedirect:
    """From an admin action: the confirm page for the selected items' orders (never executes anything)."""
    return HttpResponseRedirect(confirm_url(action, list(dict.fromkeys(trace_ids))[:MAX_ORDERS]))


def applicability(order_id: uuid.UUID) -> dict[str, str | None]:
    """Each action → None when it applies to the order, else why not (its domain's ``applicability``)."""
    module = for_trace(order_id)
    assert module is not None
    result: dict[str, str | None] = module.applicability(order_id)
    return result


def missing_choice(action: str, params: dict[str, Any]) -> str | None:
    """The prompt for the choice ``action`` still needs (a courier, a decision), or None when it has it."""
    needed = CHOICES.get(action)
    return needed[1] if needed and needed[0] not in params else None


def preview(action: str, order_id: uuid.UUID, params: dict[str, Any]) -> dict[str, Any]:
    module = for_trace(order_id)
    assert module is not None
    result: dict[str, Any] = module.preview(action, order_id, **params)
    return result


def execute(
    action: str, order_id: uuid.UUID, *, actor: str, reason: str, expected_seq: int | None, params: dict[str, Any]
) -> dict[str, Any]:
    module = for_trace(order_id)
    assert module is not None
    result: dict[str, Any] = module.execute(
        action, order_id, actor=actor, reason=reason, expected_seq=expected_seq, **params
    )
    return result
