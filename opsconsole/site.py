"""The TPFGo Ops Console: the only admin site mounted, with the dashboard as its index.

Besides the (read-only) ModelAdmins registered in ``opsconsole.admin``, the site serves the console's own
screens: lineage pictures, the grouped error sink and the remediation confirm page.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, URLResolver, path

from opsconsole import remediation_views, views


class OpsSite(admin.AdminSite):
    site_header = "TPFGo Ops Console"
    site_title = "TPFGo Ops Console"
    index_title = "Triage"
    index_template = "opsconsole/dashboard.html"
    # The project serves APIs, not a website: no "View site" link to a page that does not exist.
    site_url = None

    def get_urls(self) -> list[URLResolver | URLPattern]:
        own = [
            path("lineage/of/", self.admin_view(self.lineage_of_view), name="lineage_of"),
            path("lineage/<uuid:trace_id>/", self.admin_view(self.lineage_view), name="lineage"),
            path("errors/groups/", self.admin_view(self.error_groups_view), name="error_groups"),
            path("remediation/<slug:action>/", self.admin_view(self.remediation_view), name="remediation"),
        ]
        return own + super().get_urls()

    def index(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> TemplateResponse:
        return super().index(request, {**views.dashboard_context(request), **(extra_context or {})})

    def lineage_view(self, request: HttpRequest, trace_id: uuid.UUID) -> HttpResponse:
        return views.lineage_page(self, request, trace_id)

    def lineage_of_view(self, request: HttpRequest) -> HttpResponse:
        return views.lineage_of(self, request)

    def error_groups_view(self, request: HttpRequest) -> HttpResponse:
        return views.error_groups(self, request)

    def remediation_view(self, request: HttpRequest, action: str) -> HttpResponse:
        return remediation_views.confirm(self, request, action)


ops_site = OpsSite(name="ops")
# Bulk deletion is never offered: checkpoints and ledgers are insert-only, reference data is edited one by one.
ops_site.disable_action("delete_selected")
