"""Bulk remediation in the console: one preview of every selected order, a reason, then a run with a progress bar.

The preview page selects orders by filters (dead letters, stalled or waiting orders; pipeline, step, error code or
class, since, limit: an error group links here with its own) or by ``order`` ids, and shows what would be
inserted for each with the one-order preview. Confirming stores the run (``checkout.bulk_remediation.submit``)
and opens its page, which advances it one bounded batch per poll (``POST …/advance/``) and shows each order's
result. Without JavaScript the page's *Continue* button does the same. A preview whose plan already ran (its orders
each failed without an ops action, so the plan is that run's) says so and offers *Run these orders again*: a new run,
a re-run of that one (``bulk_remediation.submit(again_of=...)``). Like the one-order confirm page these are
custom admin views: no request-wide transaction (the engine's durable transactions refuse to nest).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.template.response import TemplateResponse
from django.urls import reverse

from checkout import bulk_remediation, bulk_run_ids, bulk_run_progress, bulk_selection
from checkout.models import Courier
from opsconsole import ops_actions, views
from pipelines import NotFound, ServiceError
from pipelines.models import BulkRun

if TYPE_CHECKING:
    from django.contrib.admin import AdminSite


def _allowed(request: HttpRequest) -> None:
    if not ops_actions.can_remediate(request.user):
        raise PermissionDenied("running remediation needs the opsconsole.run_remediation permission")


def preview_page(site: AdminSite, request: HttpRequest, action: str) -> HttpResponse:
    _allowed(request)
    if action not in ops_actions.actions():
        return views.unknown_action(site, request, action, bulk=True)
    data = request.POST if request.method == "POST" else request.GET
    params = ops_actions.params_from(action, data)
    if request.method == "POST":
        return _submit(site, request, action, params)
    context: dict[str, Any] = {"filters": None, "shown": None, "error": None, "reason": ""}
    try:
        orders: list[Any] = ops_actions.order_ids(data.getlist("order"), cap=bulk_selection.max_orders())
        if not orders:
            context["filters"] = bulk_selection.parse(**{k: data.get(k) for k in _FILTER_KEYS})
            orders = bulk_selection.select(context["filters"])
        context["shown"] = bulk_remediation.preview(action, orders, **params)
    except ServiceError as exc:
        context["error"] = exc.summary
    return _render(site, request, action, params, context)


_FILTER_KEYS = ("state", "pipeline", "step", "code", "error_class", "since", "limit")


def _render(
    site: AdminSite, request: HttpRequest, action: str, params: dict[str, Any], context: dict[str, Any]
) -> TemplateResponse:
    shown = context.get("shown") or {}
    filters = context.get("filters")
    plan = bulk_remediation.plan_of(shown) if shown else []
    last = bulk_run_ids.last_run(action, params, plan) if plan else None
    ran_before = bulk_run_progress.progress(last.id) if last is not None else None
    if ran_before and not ran_before["finished"]:
        ran_before = None
    # The id ticking "Run these orders again" submits under, as ``manage.py remediate --preview`` prints it.
    again_run_id = bulk_run_ids.plan_run_id(action, params, plan, again_of=last.id) if ran_before and last else None
    context = {
        **site.each_context(request),
        **context,
        "title": f"{ops_actions.label(action)}, in bulk: preview",
        "action": action,
        "action_label": ops_actions.label(action),
        "params": params,
        "approved_choice": ("yes" if params["approved"] else "no") if "approved" in params else "",
        "couriers": Courier.objects.order_by("id") if action == "assign-courier" else [],
        "orders": shown.get("orders", []),
        "plan": [f"{o}@{s}@{n}" for o, s, n in plan],
        "ran_before": ran_before,
        "again_run_id": again_run_id,
        "states": bulk_selection.STATES,
        "filter_values": filters.as_query() if filters else {k: request.GET.get(k, "") for k in _FILTER_KEYS},
        "max_orders": bulk_selection.max_orders(),
    }
    return TemplateResponse(request, "opsconsole/bulk_preview.html", context)


def _submit(site: AdminSite, request: HttpRequest, action: str, params: dict[str, Any]) -> HttpResponse:
    plan = _plan(request.POST.getlist("plan"))
    reason = request.POST.get("reason", "").strip()
    if not reason:
        messages.error(request, "Say why: a reason is required and is recorded with every order's action.")
        shown = bulk_remediation.preview(action, [o for o, _, _ in plan], **params)  # fresh: what runs if confirmed
        return _render(site, request, action, params, {"filters": None, "shown": shown, "error": None, "reason": ""})
    actor = request.user.get_username()
    again = request.POST.get("again", "").strip() or None  # the finished run of this plan to run again, ticked
    try:
        run = bulk_remediation.submit(action, plan, actor=actor, reason=reason, again_of=again, **params)
    except ServiceError as exc:
        messages.error(request, f"{ops_actions.label(action)} in bulk refused: {exc.summary}")
        return HttpResponseRedirect(reverse("ops:index"))
    found = _found_before(run, actor, reason)
    if found:
        messages.warning(request, found)
    return HttpResponseRedirect(reverse("ops:bulk_run", args=[run.id]))


def _found_before(run: BulkRun, actor: str, reason: str) -> str | None:
    """What to tell an operator whose plan was submitted before (an old preview, another operator's, a resent
    form): that run is shown, not a second; a finished one with its result, since nothing ran for this submit."""
    submitted = f"submitted by {run.actor} at {run.created_at:%Y-%m-%d %H:%M:%S} UTC (because: {run.reason})"
    yours = "" if (run.actor, run.reason) == (actor, reason) else ", and your reason was not recorded"
    shown = bulk_run_progress.progress(run.id)
    if shown["finished"]:
        return (
            f"This plan was already run: {submitted}, finished at {shown['finishedAt']:%Y-%m-%d %H:%M:%S} UTC with "
            f"{shown['done']} done, {shown['skipped']} skipped and {shown['failed']} failed. Nothing ran again{yours}; "
            "preview again to act on these orders as they are now; while they are where this run left them, the "
            f"preview offers to run them again, as a new run recorded as a re-run of bulk run {run.id}."
        )
    if yours:
        return f"This plan was already {submitted}: this is that run, nothing runs twice{yours}."
    return None  # the same operator's own run again (a double click): it is running


def _plan(values: list[str]) -> bulk_run_ids.Plan:
    """The previewed ``order@expectedSeq@opsActionsSeen`` the form carries back (each is checked again when it
    runs)."""
    plan = []
    for value in values:
        order, _, rest = value.partition("@")
        seq, _, acted = rest.partition("@")
        try:
            plan.append((uuid.UUID(order), int(seq), int(acted or 0)))
        except ValueError:
            continue
    return plan


def run_page(site: AdminSite, request: HttpRequest, run_id: str) -> HttpResponse:
    try:
        progress = bulk_run_progress.progress(uuid.UUID(run_id))
    except (ValueError, NotFound):
        return _unknown_run(site, request, run_id)
    context = {
        **site.each_context(request),
        "title": f"{ops_actions.label(progress['action'])}, in bulk: run {run_id}",
        "action_label": ops_actions.label(progress["action"]),
        "progress": progress,
        "results": bulk_run_progress.results(run_id),
        "can_remediate": ops_actions.can_remediate(request.user),
    }
    return TemplateResponse(request, "opsconsole/bulk_run.html", context)


def advance(site: AdminSite, request: HttpRequest, run_id: str) -> HttpResponse:
    """POST: process the run's next batch; answer its progress (JSON to the page's script, else a redirect)."""
    _allowed(request)
    if request.method != "POST":
        return HttpResponseRedirect(reverse("ops:bulk_run", args=[run_id]))
    wants_json = request.headers.get("Accept", "").startswith("application/json")
    try:
        progress = bulk_remediation.advance(uuid.UUID(run_id))
    except (ValueError, NotFound):
        if wants_json:
            return JsonResponse(
                {"error": {"code": "NOT_FOUND", "message": f"no bulk run has the id {run_id}"}}, status=404
            )
        return _unknown_run(site, request, run_id)
    if wants_json:
        return JsonResponse(progress)
    return HttpResponseRedirect(reverse("ops:bulk_run", args=[run_id]))


def _unknown_run(site: AdminSite, request: HttpRequest, run_id: str) -> HttpResponse:
    runs = reverse("ops:pipelines_opsaction_changelist")
    message = f"No bulk run has the id {run_id}. A finished run is recorded as a bulk-… row among the ops actions."
    return views.missing(site, request, "Bulk run: nothing has this id", message, look_in=("Ops actions", runs))
