"""Paused steps: pause a step (optionally for one key value), list the pauses, resume one and watch it drain.

GET lists the active pauses (reason, who, since, items held) and the recent resumes with their drain's progress;
POST pauses or resumes through ``pipelines.recovery.pausing`` (audited there as ``OpsAction`` rows), then
redirects back.
Writing needs the remediation permission; reading needs only staff.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse

from opsconsole import ops_actions
from pipelines import ServiceError, composition, database_now, drain, pauses, pausing
from pipelines.models import StepResume

if TYPE_CHECKING:
    from django.contrib.admin import AdminSite

RECENT = 10


def steps() -> list[str]:
    """Every step a pause may name, as PIPELINE.STEP (not a source pipeline's first step)."""
    out = []
    for pipeline in composition().pipelines:
        first = 1 if pipeline.source_namespace is not None else 0
        out += [f"{pipeline.name}.{step.name}" for step in pipeline.steps[first:]]
    return out


def page(site: AdminSite, request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        return _post(request)
    now = database_now()  # the clock the releases are due by
    active = list(pauses.active_rows())
    resumed = list(StepResume.objects.select_related("pause").order_by("-created_at")[:RECENT])
    shown = drain.progress_of([p.pk for p in active] + [r.pause_id for r in resumed], now)  # one query for all
    context = {
        **site.each_context(request),
        "title": "Paused steps",
        "active": [{"pause": p, "resume": None, "progress": shown[p.pk]} for p in active],
        "resumed": [{"pause": r.pause, "resume": r, "progress": shown[r.pause_id]} for r in resumed],
        "steps": steps(),
        "keys": sorted(composition().pause_keys),
        "can_remediate": ops_actions.can_remediate(request.user),
        "rate": f"{drain.per_interval()} every {drain.interval():g} s",
    }
    return TemplateResponse(request, "opsconsole/pauses.html", context)


def _post(request: HttpRequest) -> HttpResponse:
    if not ops_actions.can_remediate(request.user):
        raise PermissionDenied("pausing and resuming steps needs the opsconsole.run_remediation permission")
    actor = request.user.get_username()
    reason = request.POST.get("reason", "").strip()
    try:
        if request.POST.get("do") == "resume":
            ended = pausing.resume(request.POST.get("pause", ""), actor=actor, reason=reason)
            messages.success(request, f"Resumed {ended.pause} by {actor}: its held items drain at the set rate.")
        else:
            pipeline, _, step = request.POST.get("step", "").rpartition(".")
            key = request.POST.get("key", "").strip()
            value = request.POST.get("value", "").strip()  # without a key, refused: not a pause of every item
            row = pausing.pause(composition(), pipeline, step, key=key, value=value, actor=actor, reason=reason)
            messages.success(request, f"Paused {row} by {actor}: items reaching it are held.")
    except ServiceError as exc:
        messages.error(request, exc.summary)
    return HttpResponseRedirect(reverse("ops:pauses"))
