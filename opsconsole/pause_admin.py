"""A pause's own page (an ops action's *pause* link lands on it): what it pauses and why, and whether it still does.

The row alone said who paused what; whether the step is still paused, what it holds, or how its resume drains was
only on the Paused steps page.
"""

from __future__ import annotations

from django.contrib import admin
from django.template.loader import render_to_string

from opsconsole.readonly import ReadOnlyAdmin
from pipelines import database_now, drain
from pipelines.models import StepPause


class StepPauseAdmin(ReadOnlyAdmin[StepPause]):
    list_display = ("created_at", "pipeline", "step", "key", "value", "actor", "reason")
    date_hierarchy = "created_at"
    ordering = ("-created_at",)
    readonly_fields = ("standing",)

    @admin.display(description="now")
    def standing(self, obj: StepPause) -> str:
        context = {"pause": obj, "resume": obj.resumes.first(), "progress": drain.progress(obj, database_now())}
        return render_to_string("opsconsole/blocks/pause_standing.html", context)
