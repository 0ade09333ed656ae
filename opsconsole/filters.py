"""List filters whose choices come from the composition, not from ``SELECT DISTINCT`` over a large table."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from checkout import personal
from opsconsole import ops_actions, selectors
from pipelines import composition, pausing
from pipelines.models import ParkingOutcome


class StaticChoicesFilter(admin.SimpleListFilter):
    """Filters ``field`` by exact value; the choices are known without a query."""

    field = ""

    def choices_for(self) -> list[str]:
        raise NotImplementedError

    def lookups(self, request: HttpRequest, model_admin: object) -> list[tuple[str, str]]:
        return [(value, value) for value in self.choices_for()]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        return queryset.filter(**{self.field: value}) if value else queryset


class PipelineFilter(StaticChoicesFilter):
    title = "pipeline"
    parameter_name = field = "pipeline"

    def choices_for(self) -> list[str]:
        return [p.name for p in composition().pipelines]


class StepFilter(StaticChoicesFilter):
    title = "step"
    parameter_name = field = "step"

    def choices_for(self) -> list[str]:
        return sorted({s.name for p in composition().pipelines for s in p.steps})


class OutcomeFilter(StaticChoicesFilter):
    title = "outcome"
    parameter_name = field = "outcome"

    def choices_for(self) -> list[str]:
        return [ParkingOutcome.RESOLVED, ParkingOutcome.DEAD_LETTERED, ParkingOutcome.CANCELLED]


class ActionFilter(StaticChoicesFilter):
    title = "action"
    parameter_name = field = "action"

    def choices_for(self) -> list[str]:
        """Every action an ``OpsAction`` records: the remediations, a bulk run's own row, pausing and erasure."""
        names = ops_actions.actions()
        bulk = [f"bulk-{name}" for name in names if name not in ops_actions.PER_CHECKPOINT]
        return [*names, *bulk, pausing.PAUSE_ACTION, pausing.RESUME_ACTION, personal.ERASE_ACTION]


class OpenParkedFilter(admin.SimpleListFilter):
    """Parked items still open (retrying, held by a pause, or dead-lettered), read from ``OpenParked`` as the
    dashboard's *Orders stalled* is, so each of its links lists what it counts."""

    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: object) -> list[tuple[str, str]]:
        return [
            ("open", "open (retrying, held or dead letter)"),
            ("retrying", "retrying"),
            ("held", "held by a pause"),
            ("dead", "dead letter"),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        status = self.value() or ""
        if status not in selectors.OPEN_STATUSES:
            return queryset
        return queryset.filter(pk__in=selectors.open_parked(status).values("parked_id"))
