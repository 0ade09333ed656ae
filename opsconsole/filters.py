"""List filters whose choices come from the composition, not from ``SELECT DISTINCT`` over a large table."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from checkout import personal
from opsconsole import ops_actions, selectors
from pipelines import composition, forks, pausing
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
        """Every action an ``OpsAction`` records: the remediations, a bulk run's own row, pausing, erasure and the
        sweeper's take-up of a cut fork."""
        names = ops_actions.actions()
        bulk = [f"bulk-{name}" for name in names if name not in ops_actions.PER_CHECKPOINT]
        paused = [pausing.PAUSE_ACTION, pausing.RESUME_ACTION]
        return [*names, *bulk, *paused, personal.ERASE_ACTION, forks.TAKE_UP_ACTION]


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


class ShownValueFilter(admin.SimpleListFilter):
    """A filter a link sets (an error group's): it offers only the value asked for, so the list shows what it is
    narrowed to and how to clear it, without reading the table for every choice."""

    def label(self, value: str) -> str:
        return value

    def lookups(self, request: HttpRequest, model_admin: object) -> list[tuple[str, str]]:
        value = request.GET.get(self.parameter_name or "", "")
        return [(value, self.label(value))] if value else []


class ErrorClassFilter(ShownValueFilter):
    title = "error class"
    parameter_name = "error_class"

    def label(self, value: str) -> str:
        return value.rsplit(".", 1)[-1]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        return queryset.filter(error_class=value) if value else queryset


class SinceFilter(ShownValueFilter):
    """Entries since a moment (an error group's window): ``since`` is an ISO-8601 date-time."""

    title = "since"
    parameter_name = "since"

    def label(self, value: str) -> str:
        moment = parse_datetime(value)
        return f"since {timezone.localtime(moment):%Y-%m-%d %H:%M}" if moment and timezone.is_aware(moment) else value

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if not value:
            return queryset
        moment = parse_datetime(value)
        if moment is None or not timezone.is_aware(moment):
            raise IncorrectLookupParameters(f"since={value!r} is no ISO-8601 date-time with its offset")
        return queryset.filter(created_at__gte=moment)
