"""The engine's ledgers in the console, read-only: error-sink triage, parked items, retries, the log, ops actions.

The error-sink entry's detail page is the triage screen: traceback, payload, trace, every attempt of the item,
the order's derived state, and links to the remediation confirm pages. Remediation actions on the lists only
redirect to those confirm pages; nothing runs from a changelist.
"""

from __future__ import annotations

import datetime
import json
import uuid
from typing import TYPE_CHECKING, Any, ClassVar, TypedDict, TypeVar

from django.apps import apps
from django.contrib import admin, messages
from django.db.models import Max, OuterRef, QuerySet, Subquery
from django.http import HttpRequest, HttpResponseRedirect
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.html import format_html
from django.utils.http import urlencode

from checkout import personal
from checkout.state import TERMINAL_LABELS
from opsconsole import ops_actions, selectors
from opsconsole.checkpoint_admin import lineage_link
from opsconsole.filters import (
    ActionFilter,
    ErrorClassFilter,
    OpenParkedFilter,
    OutcomeFilter,
    PipelineFilter,
    SinceFilter,
    StepFilter,
)
from opsconsole.pause_admin import StepPauseAdmin
from opsconsole.readonly import ReadOnlyAdmin
from opsconsole.templatetags.opsconsole_text import action_result
from pipelines import ServiceError, classify, pausing

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations

from pipelines.models import (
    CheckpointLog,
    ErrorSinkEntry,
    Ledger,
    LineageLink,
    OpsAction,
    ParkedItem,
    ParkingOutcome,
    RetryClaim,
    RetryScheduled,
    RetryTakeover,
    StepPause,
    Subscriber,
    SubscriberLease,
    SweepDispatch,
)

_L = TypeVar("_L", bound=Ledger)


class LedgerAdmin(ReadOnlyAdmin[_L]):
    uuid_search: tuple[str, ...] = ("pk", "trace_id")
    key_search: tuple[str, ...] = ()
    search_help_text = "Exact match: a trace (order) id or a row id."
    readonly_fields: ClassVar[tuple[str, ...]] = ("lineage",)

    def get_search_results(self, request: HttpRequest, queryset: QuerySet[Any], search_term: str) -> tuple[Any, bool]:
        return selectors.search(queryset, search_term, self.uuid_search, self.key_search), False

    @admin.display(description="lineage")
    def lineage(self, obj: Any) -> str:
        return lineage_link(obj.trace_id)


class RemediationActions:
    """Admin actions that open a remediation confirm page for the selected rows' orders."""

    def has_remediate_permission(self, request: HttpRequest) -> bool:
        return ops_actions.can_remediate(request.user)

    def _confirm(self, request: HttpRequest, action: str, queryset: QuerySet[Any]) -> HttpResponseRedirect:
        """The confirm page of the selected rows' first orders; more than it takes is said, not dropped unseen."""
        orders = ops_actions.first_orders(queryset.values_list("trace_id", flat=True).iterator())
        if len(orders) > ops_actions.MAX_ORDERS:
            messages.warning(
                request,
                f"More than {ops_actions.MAX_ORDERS} orders were selected: this confirm page takes the first "
                f"{ops_actions.MAX_ORDERS} of the list. For more, run a bulk remediation (Error groups, or the "
                "dashboard's Redrive all), which previews every order it selects.",
            )
        return ops_actions.redirect_to_confirm(action, orders)

    @admin.action(description="Redrive the selected orders (confirm page)", permissions=["remediate"])
    def redrive(self, request: HttpRequest, queryset: QuerySet[Any]) -> HttpResponseRedirect:
        return self._confirm(request, "redrive", queryset)

    @admin.action(description="Assign a courier to the selected orders (confirm page)", permissions=["remediate"])
    def assign_courier(self, request: HttpRequest, queryset: QuerySet[Any]) -> HttpResponseRedirect:
        return self._confirm(request, "assign-courier", queryset)

    @admin.action(description="Cancel the selected orders (confirm page)", permissions=["remediate"])
    def ops_cancel(self, request: HttpRequest, queryset: QuerySet[Any]) -> HttpResponseRedirect:
        return self._confirm(request, "ops-cancel", queryset)


class ErrorSinkEntryAdmin(RemediationActions, LedgerAdmin[ErrorSinkEntry]):
    list_display = ("created_at", "pipeline", "step", "error", "attempt", "retryable", "short_message", "lineage")
    list_display_links = ("created_at",)
    list_columns = (
        "id",
        "created_at",
        "pipeline",
        "step",
        "error_class",
        "error_code",
        "attempt",
        "retryable",
        "message",
        "trace_id",
        "source",
    )
    list_filter = ("retryable", PipelineFilter, StepFilter, ErrorClassFilter, SinceFilter)
    date_hierarchy = "created_at"
    ordering = ("-created_at",)
    uuid_search = ("pk", "trace_id", "item_id")
    actions = ("redrive", "assign_courier", "ops_cancel")
    change_list_template = "opsconsole/errorsinkentry_change_list.html"
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "created_at",
                    "pipeline",
                    "step",
                    "error_class",
                    "error_code",
                    "retryable",
                    "attempt",
                    "message",
                    "trace",
                    "item_type",
                    "item_id",
                    "source",
                )
            },
        ),
        ("The order", {"fields": ("order_state", "remediation")}),
        ("Attempts of this item", {"fields": ("attempts_table",)}),
        ("Traceback", {"fields": ("traceback_block",)}),
        ("Payload", {"fields": ("payload_block",)}),
    )
    readonly_fields = ("trace", "order_state", "remediation", "attempts_table", "traceback_block", "payload_block")

    def get_fieldsets(self, request: HttpRequest, obj: ErrorSinkEntry | None = None) -> Any:
        """The remediation links only for who may run them: the confirm pages answer 403 to everyone else."""
        fieldsets = super().get_fieldsets(request, obj)
        if ops_actions.can_remediate(request.user):
            return fieldsets
        return [
            (name, {**opts, "fields": [f for f in opts["fields"] if f != "remediation"]}) for name, opts in fieldsets
        ]

    @admin.display(description="error", ordering="error_class")
    def error(self, obj: ErrorSinkEntry) -> str:
        return format_html('<span title="{}">{}</span>', obj.error_class, obj.error_class.rsplit(".", 1)[-1])

    @admin.display(description="message")
    def short_message(self, obj: ErrorSinkEntry) -> str:
        return obj.message if len(obj.message) <= 90 else obj.message[:87] + "…"

    @admin.display(description="trace")
    def trace(self, obj: ErrorSinkEntry) -> str:
        if obj.source != ErrorSinkEntry.LOCAL:
            return f"{obj.trace_id} (kept by {obj.source})"
        return lineage_link(obj.trace_id, f"{obj.trace_id} (lineage)")

    @admin.display(description="lineage")
    def lineage(self, obj: ErrorSinkEntry) -> str:
        """An entry another instance forwarded names a trace of that instance's database: no lineage here."""
        return f"kept by {obj.source}" if obj.source != ErrorSinkEntry.LOCAL else lineage_link(obj.trace_id)

    @admin.display(description="derived state")
    def order_state(self, obj: ErrorSinkEntry) -> str:
        return render_to_string("opsconsole/blocks/order_state.html", {"view": selectors.order_view(obj.trace_id)})

    @admin.display(description="remediation")
    def remediation(self, obj: ErrorSinkEntry) -> str:
        view = selectors.order_view(obj.trace_id)
        context = remediation_context(obj.trace_id, view.state if view else None)
        return render_to_string("opsconsole/blocks/remediation_links.html", context)

    @admin.display(description="attempts")
    def attempts_table(self, obj: ErrorSinkEntry) -> str:
        parked = selectors.parked_for(obj.pipeline, obj.item_id, obj.branch)
        return render_to_string(
            "opsconsole/blocks/attempts.html",
            {
                "entries": selectors.attempts(obj.pipeline, obj.item_id, obj.branch),
                "current": obj.pk,
                "parked": parked,
                "outcomes": selectors.outcomes_of(parked) if parked else [],
                "held": selectors.open_hold(parked) if parked else None,
            },
        )

    @admin.display(description="traceback")
    def traceback_block(self, obj: ErrorSinkEntry) -> str:
        return format_html('<pre class="ops-pre">{}</pre>', obj.traceback)

    @admin.display(description="payload")
    def payload_block(self, obj: ErrorSinkEntry) -> str:
        return format_html(
            '<pre class="ops-pre">{}</pre>', json.dumps(obj.payload, indent=2, sort_keys=True, ensure_ascii=False)
        )


def remediation_context(trace_id: uuid.UUID, state: str | None = None) -> dict[str, Any]:
    """Links to the confirm pages of the remediations that apply to the order, and why the others do not."""
    terminal = state in TERMINAL_LABELS
    missing = ops_actions.api() is None
    why_not: dict[str, str | None] = {}
    if not missing and not terminal:
        try:
            why_not = ops_actions.applicability(trace_id)
        except ServiceError as exc:  # not an order (a trace of another pipeline): nothing applies
            why_not = dict.fromkeys(ops_actions.actions(), exc.message)
    # A fork starts from one checkpoint: it is offered on each checkpoint of the lineage page ("Fork from here").
    why_not = {n: why for n, why in why_not.items() if n not in ops_actions.PER_CHECKPOINT}
    return {
        "links": [
            (ops_actions.label(n), ops_actions.confirm_url(n, [trace_id])) for n, why in why_not.items() if why is None
        ],
        "not_applicable": [(ops_actions.label(n), why) for n, why in why_not.items() if why is not None],
        "missing": missing,
        "terminal_state": state if terminal else None,
    }


class ParkedItemAdmin(RemediationActions, LedgerAdmin[ParkedItem]):
    list_display = ("created_at", "pipeline", "step", "item_type", "status", "lineage")
    list_columns = ("id", "created_at", "pipeline", "step", "item_type", "trace_id")
    list_filter = (OpenParkedFilter, PipelineFilter, StepFilter)
    date_hierarchy = "created_at"
    ordering = ("-created_at",)
    uuid_search = ("pk", "trace_id", "item_id")
    actions = ("redrive", "assign_courier", "ops_cancel")
    exclude = ("command", "event", "merge_ids")
    readonly_fields = ("lineage", "status", "history")

    def get_queryset(self, request: HttpRequest) -> QuerySet[ParkedItem]:
        return selectors.with_parking_status(super().get_queryset(request))

    @admin.display(description="status")
    def status(self, obj: ParkedItem) -> str:
        last = getattr(obj, "last", None)
        if getattr(obj, "held", False):  # a dead letter's too: its redrive reached the paused step
            return "held by a pause (a redrive of its dead letter)" if last else "held by a pause"
        return str(last) if last else "parked (retrying)"

    @admin.display(description="history")
    def history(self, obj: ParkedItem) -> str:
        return render_to_string(
            "opsconsole/blocks/attempts.html",
            {
                "entries": selectors.attempts(obj.pipeline, obj.item_id, obj.branch),
                "parked": obj,
                "outcomes": selectors.outcomes_of(obj),
                "schedules": selectors.schedules_of(obj),
                "held": selectors.open_hold(obj),
            },
        )


class CheckpointLogAdmin(LedgerAdmin[CheckpointLog]):
    list_display = ("seq", "created_at", "checkpoint_type", "pipeline", "step", "publication", "lineage")
    list_columns = ("seq", "created_at", "checkpoint_type", "pipeline", "step", "publication", "trace_id")
    date_hierarchy = "created_at"
    ordering = ("-seq",)
    uuid_search = ("checkpoint_id", "trace_id")


class LineageLinkAdmin(LedgerAdmin[LineageLink]):
    list_display = ("child_type", "child_id", "parent_type", "parent_id", "ordinal", "lineage")
    ordering = ("-id",)
    uuid_search = ("child_id", "parent_id", "trace_id")


class ParkedChildAdmin(LedgerAdmin[_L]):
    """Retry schedules, claims, take-overs and parking outcomes: rows about one parked item."""

    list_select_related = ("parked",)
    ordering = ("-id",)
    uuid_search = ("parked__id", "parked__trace_id")

    @admin.display(description="parked item")
    def parked_item(self, obj: RetryScheduled | RetryClaim | RetryTakeover | ParkingOutcome) -> str:
        return f"{obj.parked.pipeline}/{obj.parked.step}"

    @admin.display(description="lineage")
    def lineage(self, obj: RetryScheduled | RetryClaim | RetryTakeover | ParkingOutcome) -> str:
        return lineage_link(obj.parked.trace_id)


class RetryScheduledAdmin(ParkedChildAdmin[RetryScheduled]):
    list_display = ("due_at", "parked_item", "attempt", "created_at", "lineage")
    date_hierarchy = "due_at"


class RetryClaimAdmin(ParkedChildAdmin[RetryClaim]):
    list_display = ("created_at", "parked_item", "attempt", "worker", "lineage")


class RetryTakeoverAdmin(ParkedChildAdmin[RetryTakeover]):
    list_display = ("created_at", "parked_item", "attempt", "worker", "taken_from", "lineage")


class ParkingOutcomeAdmin(ParkedChildAdmin[ParkingOutcome]):
    list_display = ("created_at", "parked_item", "outcome", "reason", "attempts", "lineage")
    list_filter = (OutcomeFilter,)
    date_hierarchy = "created_at"


class OpsActionAdmin(LedgerAdmin[OpsAction]):
    list_display = ("created_at", "action", "actor", "short_reason", "outcome", "preview_seq", "lineage")
    list_columns = ("id", "created_at", "action", "actor", "reason", "result", "preview_seq", "trace_id")
    list_filter = (ActionFilter,)
    date_hierarchy = "created_at"
    ordering = ("-created_at",)
    uuid_search = ("pk", "trace_id", "target_id")

    @admin.display(description="reason")
    def short_reason(self, obj: OpsAction) -> str:
        return obj.reason if len(obj.reason) <= 90 else obj.reason[:87] + "…"

    @admin.display(description="result")
    def outcome(self, obj: OpsAction) -> str:
        return action_result(obj.result)

    @admin.display(description="lineage")
    def lineage(self, obj: OpsAction) -> str:
        """An order's lineage; a pause's, a bulk run's or an erased consumer's own page, since their rows carry
        their own id where an order's would be (a lineage of that id does not exist)."""
        if obj.action == personal.ERASE_ACTION:
            consumer = str(obj.result.get("consumer", ""))
            return format_html('<a href="{}">consumer</a>', reverse("ops:checkout_consumer_change", args=[consumer]))
        if obj.action in (pausing.PAUSE_ACTION, pausing.RESUME_ACTION):
            return format_html('<a href="{}">pause</a>', reverse("ops:pipelines_steppause_change", args=[obj.trace_id]))
        if obj.result.get("bulkRunId") == str(obj.trace_id):
            return format_html('<a href="{}">bulk run</a>', reverse("ops:bulk_run", args=[obj.trace_id]))
        return lineage_link(obj.trace_id)


class _Standing(TypedDict):
    position: int | None
    acked_at: datetime.datetime | None
    lease_holder: str | None
    lease_expires_at: datetime.datetime | None


if TYPE_CHECKING:  # a subscriber as the changelist reads it: its newest acknowledgement and its lease
    ShownSubscriber = WithAnnotations[Subscriber, _Standing]


class SubscriberAdmin(ReadOnlyAdmin[Subscriber]):
    """Remote subscribers (``pipelines.transport.subscriptions``): publication, acknowledged position, lag behind
    the log, and the follow that holds the subscriber's lease (``pipelines.transport.subscriber_leases``)."""

    list_display = (
        "name",
        "publication",
        "contract_version",
        "position",
        "acked_at",
        "lag",
        "held_by",
        "lease_expires_at",
        "created_at",
    )
    list_columns = ("id", "name", "publication", "contract_version", "created_at")
    list_filter = ("publication",)
    ordering = ("publication", "name")
    search_fields = ("name",)
    search_help_text = "A subscriber's name (contains)."

    def get_queryset(self, request: HttpRequest) -> QuerySet[Subscriber]:
        self._head = CheckpointLog.objects.aggregate(head=Max("seq"))["head"] or 0
        lease = SubscriberLease.objects.filter(subscriber=OuterRef("pk"))
        return (
            super()
            .get_queryset(request)
            .annotate(
                position=Max("acks__position"),
                acked_at=Max("acks__created_at"),
                lease_holder=Subquery(lease.values("holder")),
                lease_expires_at=Subquery(lease.values("expires_at")),
            )
        )

    @admin.display(description="acknowledged position", ordering="position")
    def position(self, obj: ShownSubscriber) -> int:
        return int(obj.position or 0)

    @admin.display(description="last acknowledged", ordering="acked_at")
    def acked_at(self, obj: ShownSubscriber) -> object:
        return obj.acked_at or "never"

    @admin.display(description="lag (log positions)")
    def lag(self, obj: ShownSubscriber) -> int:
        return max(0, getattr(self, "_head", 0) - int(obj.position or 0))

    @admin.display(description="held by", ordering="lease_holder")
    def held_by(self, obj: ShownSubscriber) -> str:
        return obj.lease_holder or "not followed"

    @admin.display(description="lease expires", ordering="lease_expires_at")
    def lease_expires_at(self, obj: ShownSubscriber) -> datetime.datetime | None:
        return obj.lease_expires_at


class SweepDispatchAdmin(ReadOnlyAdmin[SweepDispatch]):
    """The sweeper's sends of lost work (``pipelines.recovery.resends``), the most-sent first: behind a backlog,
    they name the work that has waited longest. Searched by the trace or parked item they name."""

    list_display = ("kind", "subject", "number", "send", "created_at", "resend_at", "lineage")
    list_filter = ("kind",)
    date_hierarchy = "created_at"
    ordering = ("-send", "-created_at")
    search_help_text = "A trace id (a resume) or a parked item id (a retry)."
    search_fields = ("subject",)

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[SweepDispatch], search_term: str
    ) -> tuple[QuerySet[SweepDispatch], bool]:
        return selectors.search(queryset, search_term, ("subject",), ()), False

    @admin.display(description="lineage")
    def lineage(self, obj: SweepDispatch) -> str:
        """A resume names its trace; a retry its parked item, whose trace the lineage box finds."""
        if obj.kind == SweepDispatch.RESUME:
            return lineage_link(obj.subject)
        return format_html(
            '<a href="{}?{}">lineage</a>', reverse("ops:lineage_of"), urlencode({"id": str(obj.subject)})
        )


LEDGER_ADMINS: dict[type[Any], type[admin.ModelAdmin[Any]]] = {
    ErrorSinkEntry: ErrorSinkEntryAdmin,
    ParkedItem: ParkedItemAdmin,
    CheckpointLog: CheckpointLogAdmin,
    LineageLink: LineageLinkAdmin,
    RetryScheduled: RetryScheduledAdmin,
    RetryClaim: RetryClaimAdmin,
    RetryTakeover: RetryTakeoverAdmin,
    ParkingOutcome: ParkingOutcomeAdmin,
    OpsAction: OpsActionAdmin,
    Subscriber: SubscriberAdmin,
    SweepDispatch: SweepDispatchAdmin,
    StepPause: StepPauseAdmin,
}


def register(site: admin.AdminSite) -> None:
    for model, model_admin in LEDGER_ADMINS.items():
        site.register(model, model_admin)
    # Any other ledger (a second domain's, say) still gets a read-only view.
    for model in apps.get_models():
        if classify(model) == "ledger" and not site.is_registered(model):
            site.register(model, LedgerAdmin if _has_trace(model) else ReadOnlyAdmin)


def _has_trace(model: type[Any]) -> bool:
    return any(f.name == "trace_id" for f in model._meta.concrete_fields)
