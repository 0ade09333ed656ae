"""The TPFGo Ops Console: the only admin site mounted."""

from __future__ import annotations

from django.contrib import admin


class OpsSite(admin.AdminSite):
    site_header = "TPFGo Ops Console"
    site_title = "TPFGo Ops Console"
    index_title = "Triage"


ops_site = OpsSite(name="ops")
