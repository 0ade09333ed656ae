"""The confirm page of an ops action: preview exactly what will be inserted, ask why, run it, say what happened.

GET previews (and re-previews when a parameter changes); POST executes with the previewed ``expectedSeq``,
so an order that moved on since the preview fails closed. This is a custom admin view, not a change view:
no request-wide transaction wraps it, because the engine's durable transactions refuse to nest.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse

from checkout.models import Courier
from opsconsole import ops_actions, views
from pipelines import ServiceError

if TYPE_CHECKING:
    from django.contrib.admin import AdminSite


@dataclass
class Preview:
    order_id: uuid.UUID
    allowed: bool = False
    why: str | None = None
    expected_seq: int | None = None
    inserts: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    choose: str | None = None  # the choice still needed before a preview (a courier, a decision)


def _preview(action: str, order_id: uuid.UUID, params: dict[str, Any]) -> Preview:
    prompt = ops_actions.missing_choice(action, params)
    try:
        if prompt is not None:  # nothing to preview yet: say whether the action applies at all
            why = ops_actions.applicability(order_id).get(action)
            return Preview(order_id, why=why, choose=prompt if why is None else None)
        found = ops_actions.preview(action, order_id, params)
    except ServiceError as exc:
        return Preview(order_id, error=f"{exc.code}: {exc.message}")
    return Preview(
        order_id,
        allowed=bool(found.get("allowed")),
        why=found.get("why"),
        expected_seq=found.get("expectedSeq"),
        inserts=list(found.get("inserts") or []),
    )


def _render(
    site: AdminSite, request: HttpRequest, action: str, orders: list[uuid.UUID], params: dict[str, Any], reason: str
) -> TemplateResponse:
    previews = [_preview(action, order_id, params) for order_id in orders]
    context = {
        **site.each_context(request),
        "title": f"{ops_actions.label(action)}: confirm",
        "action": action,
        "action_label": ops_actions.label(action),
        "previews": previews,
        "runnable": any(p.allowed for p in previews),
        "params": params,
        "reason": reason,
        "couriers": Courier.objects.order_by("id") if action == "assign-courier" else [],
        "approved_choice": ("yes" if params["approved"] else "no") if "approved" in params else "",
    }
    return TemplateResponse(request, "opsconsole/remediation_confirm.html", context)


def confirm(site: AdminSite, request: HttpRequest, action: str) -> HttpResponse:
    if not ops_actions.can_remediate(request.user):
        raise PermissionDenied("running remediation needs the opsconsole.run_remediation permission")
    if ops_actions.api() is None:
        messages.error(request, "Remediation is not available in this build (checkout.ops_actions is missing).")
        return HttpResponseRedirect(reverse("ops:index"))
    if action not in ops_actions.actions():
        return views.unknown_action(site, request, action)
    data = request.POST if request.method == "POST" else request.GET
    orders = ops_actions.order_ids(data.getlist("order"))
    if not orders:
        messages.error(request, "Choose at least one order to remediate.")
        return HttpResponseRedirect(reverse("ops:index"))
    params = ops_actions.params_from(action, data)
    if request.method != "POST":
        return _render(site, request, action, orders, params, "")
    reason = data.get("reason", "").strip()
    if not reason:
        messages.error(request, "Say why: a reason is required and is recorded with the action.")
        return _render(site, request, action, orders, params, reason)
    ran = _execute(request, action, orders, params, reason)
    if len(orders) == 1:
        return HttpResponseRedirect(reverse("ops:lineage", args=[orders[0]]))
    return HttpResponseRedirect(reverse("ops:index") if ran else ops_actions.confirm_url(action, orders, **params))


def _expected_seq(request: HttpRequest, order_id: uuid.UUID) -> int | None:
    raw = request.POST.get(f"expected_seq_{order_id}", "").strip()
    digits = raw[1:] if raw.startswith("-") else raw
    return int(raw) if digits.isascii() and digits.isdigit() else None  # not "²" or "--5", which int() refuses


def _execute(request: HttpRequest, action: str, orders: list[uuid.UUID], params: dict[str, Any], reason: str) -> int:
    """Run the action on each order, one at a time (each through the engine); report every result."""
    ran = 0
    actor = request.user.get_username()
    for order_id in orders:
        try:
            view = ops_actions.execute(
                action,
                order_id,
                actor=actor,
                reason=reason,
                expected_seq=_expected_seq(request, order_id),
                params=params,
            )
        except ServiceError as exc:
            hint = " Review the new preview and confirm again." if exc.code == "FAILED_PRECONDITION" else ""
            messages.error(request, f"{ops_actions.label(action)} refused for order {order_id}: {exc.summary}.{hint}")
            continue
        ran += 1
        stalled = " (still stalled)" if view.get("stalled") else ""
        messages.success(
            request,
            f"{ops_actions.label(action)} ran on order {order_id} by {actor}: state {view.get('state')}{stalled}; "
            f"ops action {view.get('opsActionId')}.",
        )
    return ran
