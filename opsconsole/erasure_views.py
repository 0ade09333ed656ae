"""The erasure page: erase one consumer's personal data (``checkout.personal.erase``), audited as an ops action.

GET shows what erasure does to this consumer (how many orders carry their sealed data, which fields become
``[erased]``, what stays); POST with a reason erases and records the ``OpsAction``. Like the remediation confirm
page, a custom admin view, so no request-wide transaction wraps the erasure's own durable one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse

from checkout import personal
from checkout.models import Consumer
from checkout.order_request.models import OrderRequest
from opsconsole import ops_actions, views
from pipelines import ServiceError
from pipelines.models import OpsAction

if TYPE_CHECKING:
    from django.contrib.admin import AdminSite


def page(site: AdminSite, request: HttpRequest, consumer_id: str) -> HttpResponse:
    if not ops_actions.can_remediate(request.user):
        raise PermissionDenied
    consumer = Consumer.objects.filter(pk=consumer_id).first()
    if consumer is None:
        message = f"No consumer has the id {consumer_id!r}: nothing to erase."
        look_in = ("Consumers", reverse("ops:checkout_consumer_changelist"))
        return views.missing(site, request, "Erasure: no such consumer", message, look_in=look_in)
    reason = str(request.POST.get("reason", "")).strip()
    if request.method == "POST":
        try:
            done = personal.erase(consumer_id, actor=request.user.get_username(), reason=reason)
        except ServiceError as exc:
            messages.error(request, exc.summary)
        else:
            messages.success(request, _done(consumer_id, done, request.user.get_username(), reason))
            return HttpResponseRedirect(reverse("ops:checkout_consumer_changelist"))
    context = {
        **site.each_context(request),
        "title": f"Erase consumer {consumer_id}: confirm",
        "consumer": consumer,
        "erased": personal.is_erased(consumer),
        "orders": OrderRequest.objects.filter(consumer_id=consumer_id).count(),
        "reason": reason,
    }
    return TemplateResponse(request, "opsconsole/erasure_confirm.html", context)


def _done(consumer_id: str, done: personal.Erasure, actor: str, reason: str) -> str:
    """What the erasure did; erased before (another operator's page, a resent form): who did it, when and why."""
    if not done.already:
        return f"Consumer {consumer_id} is erased (ops action {done.ops_action_id})."
    first = OpsAction.objects.filter(pk=done.ops_action_id).first()
    if first is None:
        return f"Consumer {consumer_id} was already erased (ops action {done.ops_action_id})."
    yours = "" if (first.actor, first.reason) == (actor, reason) else ", and your reason was not recorded"
    return (
        f"Consumer {consumer_id} was already erased by {first.actor} at {first.created_at:%Y-%m-%d %H:%M:%S} UTC "
        f"(because: {first.reason}; ops action {first.pk}): nothing changed{yours}."
    )
