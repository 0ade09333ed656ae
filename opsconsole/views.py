"""The console's own screens: the dashboard, the lineage picture of an order, the grouped error sink.

Each view is wrapped by ``OpsSite.admin_view`` (staff login, CSRF, no caching) and only reads.
"""

from __future__ import annotations

import datetime
import uuid
from typing import TYPE_CHECKING, Any

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import urlencode

from checkout import state
from opsconsole import lineage, ops_actions, selectors, waiting
from opsconsole.ledger_admin import remediation_context
from pipelines import database_reckoned, storage, sweep_grace, tombstone
from pipelines.models import BulkRun, OpsAction, StepPause

if TYPE_CHECKING:
    from django.contrib.admin import AdminSite

ERROR_WINDOWS = {"1": 1, "7": 7, "30": 30, "all": None}


def dashboard_context(request: HttpRequest) -> dict[str, Any]:
    dates, funnel, folded = selectors.funnel()
    dead = selectors.dead_letters(selectors.LIST_LIMIT + 1)  # one more than shown: are there more than shown?
    return {
        "can_remediate": ops_actions.can_remediate(request.user),
        "funnel_days": dates,
        "funnel": funnel,
        "funnel_window": selectors.FUNNEL_DAYS,
        "funnel_folded": folded,
        "funnel_now": database_reckoned(),  # the clock the fold's time is written with: not this console node's
        "stalled": [_with_counts(row) for row in selectors.stalled_by_step()],
        "dead_letters": dead[: selectors.LIST_LIMIT],
        "more_dead_letters": len(dead) > selectors.LIST_LIMIT,
        "overdue": selectors.overdue_parked(),
        "overdue_grace": round(sweep_grace().total_seconds()),
        "error_groups": _linked_groups(selectors.error_window(selectors.FUNNEL_DAYS)),
        "waiting": waiting.waiting(),
        "escalations": waiting.escalations(),
    }


def _with_counts(row: dict[str, Any]) -> dict[str, Any]:
    """A stalled row's counts in the order of its columns, each with the Parked items status that lists it."""
    statuses = {"open": "orders", "retrying": "retrying", "held": "held", "dead": "dead"}
    return {**row, "counts": [(status, row[key]) for status, key in statuses.items()]}


def lineage_page(site: AdminSite, request: HttpRequest, trace_id: uuid.UUID) -> HttpResponse:
    """Built and rendered inside one read scope: the picture, the order's view and the remediations' previews
    read the trace's forks and facts once for the page, not once per look-up."""
    with storage.read_scope():
        response = _lineage_page(site, request, trace_id)
        response.render()
        return response


def _lineage_page(site: AdminSite, request: HttpRequest, trace_id: uuid.UUID) -> TemplateResponse:
    picture, branches = lineage.build_with_branches(trace_id)
    order = state.view_of_trace(trace_id)
    if not picture.nodes and order is None:
        return _purged_or_404(site, request, trace_id)
    highlight = request.GET.get("highlight", "")
    stops = [n for n in picture.nodes if n.kind in ("parked", "dead")]
    context = {
        **site.each_context(request),
        "title": f"Lineage of {trace_id}",
        "trace_id": trace_id,
        "picture": picture,
        "highlight": highlight,
        "order": order,
        "stops": stops,
        "checkpoints": [n for n in picture.nodes if n.kind not in ("parked", "dead", "resolved")],
        "forked": branches.forked,
        "failed_attempts": lineage.failed_attempts(trace_id, branches),
        "waits": lineage.waits(trace_id, branches),
        "ops_actions": selectors.ops_actions(trace_id),
        "can_remediate": ops_actions.can_remediate(request.user),
        "can_fork": order is not None and ops_actions.can_remediate(request.user) and "fork" in ops_actions.actions(),
        **remediation_context(trace_id, order.state if order else None),
    }
    return TemplateResponse(request, "opsconsole/lineage.html", context)


def _purged_or_404(site: AdminSite, request: HttpRequest, trace_id: uuid.UUID) -> TemplateResponse:
    """A trace the retention policy removed: "purged on …" (410 Gone); anything else unknown is 404."""
    buried = tombstone(trace_id)
    if buried is None:
        return _not_found(site, request, str(trace_id), is_id=True)
    context = {
        **site.each_context(request),
        "title": f"Lineage of {trace_id}: purged",
        "trace_id": trace_id,
        "tombstone": buried,
        "ops_actions": selectors.ops_actions(trace_id),
    }
    return TemplateResponse(request, "opsconsole/purged.html", context, status=410)


def lineage_of(site: AdminSite, request: HttpRequest) -> HttpResponse:
    """Any id (order, checkpoint, parked item, error entry) → the lineage of its trace, that node highlighted; an
    entry another instance forwarded → its own page, which names that instance (the trace is in its database); an
    ops action, a pause or a bulk run → its page."""
    raw = request.GET.get("id", "").strip()
    try:
        wanted = uuid.UUID(raw)
    except ValueError:
        return _not_found(site, request, raw, is_id=False)
    trace_id = selectors.trace_of(wanted) or (wanted if tombstone(wanted) is not None else None)
    if trace_id is None:
        return _own_page(wanted) or _not_found(site, request, str(wanted), is_id=True)
    if selectors.is_forwarded_entry(wanted):
        return HttpResponseRedirect(reverse("ops:pipelines_errorsinkentry_change", args=[wanted]))
    query = urlencode({"highlight": str(wanted)})
    return HttpResponseRedirect(f"{reverse('ops:lineage', args=[trace_id])}?{query}")


# Rows whose ids the console prints (a remediation's message names its ops action; `manage.py pause` its pause; a
# bulk run's page its run) but that name no trace of their own: each has a page of its own.
OWN_PAGES = (
    (OpsAction, "ops:pipelines_opsaction_change"),
    (StepPause, "ops:pipelines_steppause_change"),
    (BulkRun, "ops:bulk_run"),
)


def _own_page(wanted: uuid.UUID) -> HttpResponse | None:
    for model, page in OWN_PAGES:
        if selectors.row(model, wanted) is not None:
            return HttpResponseRedirect(reverse(page, args=[wanted]))
    return None


def _not_found(site: AdminSite, request: HttpRequest, wanted: str, *, is_id: bool) -> TemplateResponse:
    """The console's page for an id it does not know (404, as a lineage of an unknown trace is), the id echoed."""
    context = {
        **site.each_context(request),
        "title": "Lineage: nothing has this id",
        "wanted": wanted,
        "is_id": is_id,
        "looked_up": wanted,  # the triage bar's box keeps it, to correct a typo
    }
    return TemplateResponse(request, "opsconsole/not_found.html", context, status=404)


def missing(
    site: AdminSite,
    request: HttpRequest,
    title: str,
    message: str,
    *,
    choices: list[tuple[str, str]] | None = None,
    look_in: tuple[str, str] | None = None,
) -> TemplateResponse:
    """The console's own 404 for an address that names nothing it has (a remediation, a bulk run, a consumer): it
    keeps the triage bar and says what is missing and where to look, where Django's bare page left the console."""
    context = {**site.each_context(request), "title": title, "message": message, "choices": choices or []}
    return TemplateResponse(request, "opsconsole/missing.html", {**context, "look_in": look_in}, status=404)


def _linked_groups(since: datetime.datetime | None, *, with_dead: bool = False) -> list[dict[str, Any]]:
    """The error groups since ``since``, each with a link to its entries within that window (the ones its counts
    are over, not every entry of the group ever) and, when it has open dead letters, to their bulk redrive (a group
    whose items all retry, completed or were remediated has none: its preview would list no order)."""
    groups = selectors.error_groups(since)
    dead = selectors.dead_letters_per_group() if with_dead else {}
    changelist = reverse("ops:pipelines_errorsinkentry_changelist")
    within = {} if since is None else {"since": since.isoformat()}
    for group in groups:
        query = {k: group[k] for k in ("pipeline", "step", "error_class")}
        group["href"] = f"{changelist}?{urlencode({**query, **within})}"
        group["dead"] = dead.get((group["pipeline"], group["step"], group["error_class"]), 0)
        group["bulk_href"] = ops_actions.bulk_url("redrive", state="dead_letter", **query) if group["dead"] else ""
    return groups


def error_groups(site: AdminSite, request: HttpRequest) -> HttpResponse:
    window = request.GET.get("window", "7")
    if window not in ERROR_WINDOWS:
        window = "7"
    groups = _linked_groups(selectors.error_window(ERROR_WINDOWS[window]), with_dead=True)
    context = {
        **site.each_context(request),
        "title": "Error sink, grouped",
        "groups": groups,
        "window": window,
        "windows": list(ERROR_WINDOWS),
        "can_remediate": ops_actions.can_remediate(request.user),
    }
    return TemplateResponse(request, "opsconsole/error_groups.html", context)


def unknown_action(site: AdminSite, request: HttpRequest, action: str, *, bulk: bool = False) -> TemplateResponse:
    """A remediation address whose action the console does not have (a typo, an old bookmark): the ones it has."""
    page = "ops:bulk_remediation" if bulk else "ops:remediation"
    known = [(name, reverse(page, args=[name])) for name in ops_actions.actions()] if bulk else []
    names = ", ".join(ops_actions.actions())
    message = f"The console has no remediation named {action!r}: its remediations are {names}."
    title = f"{'Bulk remediation' if bulk else 'Remediation'}: no such action"
    return missing(site, request, title, message, choices=known)
