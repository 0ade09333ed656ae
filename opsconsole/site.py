"""The TPFGo Ops Console: the only admin site mounted, with the dashboard as its index.

Besides the (read-only) ModelAdmins registered in ``opsconsole.admin``, the site serves the console's own
screens: lineage pictures, the grouped error sink, the remediation confirm page, bulk remediation, the paused
steps and the erasure of a consumer's personal data.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from typing import Any, TypeVar, cast

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.template.response import TemplateResponse
from django.urls import URLPattern, URLResolver, path

from opsconsole import bulk_views, confirm_views, erasure_views, funnel, pause_views, views
from opsconsole.ops_group import VIEW_CONSOLE
from pipelines import actions

_View = TypeVar("_View", bound=Callable[..., Any])


class OpsSite(admin.AdminSite):
    site_header = "TPFGo Ops Console"
    site_title = "TPFGo Ops Console"
    index_title = "Triage"
    index_template = "opsconsole/dashboard.html"
    # The project serves APIs, not a website: no "View site" link to a page that does not exist.
    site_url = None
    # Django's navigation sidebar took a third of a 1280 px screen, and the triage lists scrolled their last
    # columns (the lineage link) out of sight; the triage bar, the breadcrumbs and the dashboard's "Browse every
    # table" lead to every list.
    enable_nav_sidebar = False

    def each_context(self, request: HttpRequest) -> dict[str, Any]:
        """Django's context of every console page, with the longest reason an action takes (the forms' maxlength)."""
        return {**super().each_context(request), "max_reason": actions.MAX_REASON}

    def admin_view(self, view: _View, cacheable: bool = False) -> _View:
        """Django's wrapper (login, CSRF), after a check every console page needs: a NUL in the address or in a
        parameter (a filter, a form field) is a 400 that says so; PostgreSQL cannot compare text with a NUL, so
        every list, filter and form would otherwise fail on it with a 500."""
        inner = super().admin_view(view, cacheable)

        @functools.wraps(inner)
        def without_nul(request: HttpRequest, *args: object, **kwargs: object) -> Any:
            if _holds_nul(request):
                return HttpResponseBadRequest(NUL_REFUSED, content_type="text/plain; charset=utf-8")
            return inner(request, *args, **kwargs)

        return cast(_View, without_nul)

    def get_urls(self) -> list[URLResolver | URLPattern]:
        own = [
            path("lineage/of/", self.admin_view(self.lineage_of_view), name="lineage_of"),
            path("lineage/<uuid:trace_id>/", self.admin_view(self.lineage_view), name="lineage"),
            path("errors/groups/", self.admin_view(self.error_groups_view), name="error_groups"),
            path("remediation/<slug:action>/", self.admin_view(self.remediation_view), name="remediation"),
            path("pauses/", self.admin_view(self.pauses_view), name="pauses"),
            path("erasure/<str:consumer_id>/", self.admin_view(self.erasure_view), name="erasure"),
            path("bulk/<slug:action>/", self.admin_view(self.bulk_preview_view), name="bulk_remediation"),
            path("bulk/runs/<str:run_id>/", self.admin_view(self.bulk_run_view), name="bulk_run"),
            path("bulk/runs/<str:run_id>/advance/", self.admin_view(self.bulk_advance_view), name="bulk_advance"),
        ]
        return own + super().get_urls()

    def index(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> TemplateResponse:
        if not request.user.has_perm(VIEW_CONSOLE):  # Django's own index: the models this user may view
            response = super().index(request, extra_context)
            response.template_name = "admin/index.html"
            return response
        with funnel.without_jit():  # the dashboard's reads: JIT compiling cost more than the queries
            figures = views.dashboard_context(request)
        return super().index(request, {**figures, **(extra_context or {})})

    def lineage_view(self, request: HttpRequest, trace_id: uuid.UUID) -> HttpResponse:
        _may_view(request)
        return views.lineage_page(self, request, trace_id)

    def lineage_of_view(self, request: HttpRequest) -> HttpResponse:
        _may_view(request)
        return views.lineage_of(self, request)

    def error_groups_view(self, request: HttpRequest) -> HttpResponse:
        _may_view(request)
        return views.error_groups(self, request)

    def remediation_view(self, request: HttpRequest, action: str) -> HttpResponse:
        return confirm_views.confirm(self, request, action)

    def pauses_view(self, request: HttpRequest) -> HttpResponse:
        _may_view(request)
        return pause_views.page(self, request)

    def erasure_view(self, request: HttpRequest, consumer_id: str) -> HttpResponse:
        return erasure_views.page(self, request, consumer_id)

    def bulk_preview_view(self, request: HttpRequest, action: str) -> HttpResponse:
        return bulk_views.preview_page(self, request, action)

    def bulk_run_view(self, request: HttpRequest, run_id: str) -> HttpResponse:
        _may_view(request)
        return bulk_views.run_page(self, request, run_id)

    def bulk_advance_view(self, request: HttpRequest, run_id: str) -> HttpResponse:
        return bulk_views.advance(self, request, run_id)


def _may_view(request: HttpRequest) -> None:
    """The console's own screens read every model; a staff user needs ``opsconsole.view_console`` for them (403)."""
    if not request.user.has_perm(VIEW_CONSOLE):
        raise PermissionDenied(f"the console's screens need the {VIEW_CONSOLE} permission")


NUL_REFUSED = "400 Bad Request: the address or a field of this request holds a NUL character; nothing was done."


def _holds_nul(request: HttpRequest) -> bool:
    fields = [request.GET] + ([request.POST] if request.method == "POST" else [])
    texts = [request.path] + [t for f in fields for key, values in f.lists() for t in (key, *values)]
    return any("\x00" in text for text in texts)


ops_site = OpsSite(name="ops")
# Bulk deletion is never offered: checkpoints and ledgers are insert-only, reference data is edited one by one.
ops_site.disable_action("delete_selected")
