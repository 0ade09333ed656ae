"""Checkpoint browsing: one read-only ModelAdmin per checkpoint model, generated from the apps.

Every checkpoint changelist is searchable by order id, trace id, checkpoint id (exact UUIDs) and idempotency
key (exact), drills down by ``created_at``, lists only small columns, and links each row to its lineage.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.contrib import admin
from django.db import models
from django.db.models import Model, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from opsconsole import selectors
from opsconsole.readonly import ReadOnlyAdmin
from pipelines import checkpoint_models, classify
from pipelines.models import Checkpoint, CheckpointChild

# Columns worth a changelist: short, fixed-size values (no JSON, no long text).
SMALL_FIELDS = (models.CharField, models.BooleanField, models.IntegerField, models.DecimalField, models.UUIDField)
MAX_LISTED_FIELDS = 4
BASE_FIELDS = frozenset(
    {"id", "trace_id", "idempotency_key", "business_key", "contract_name", "contract_version", "created_at", "order_id"}
)


def lineage_link(trace_id: object, label: str = "lineage") -> str:
    return format_html('<a href="{}">{}</a>', reverse("ops:lineage", args=[trace_id]), label)


class CheckpointAdmin(ReadOnlyAdmin[Checkpoint]):
    """The shared display of a checkpoint; subclasses are generated per model."""

    date_hierarchy = "created_at"
    ordering = ("-created_at",)
    search_help_text = "Exact match: an order id, trace id or checkpoint id (UUID), or an idempotency key."
    uuid_search: tuple[str, ...] = ("pk", "trace_id")
    key_search: tuple[str, ...] = ("idempotency_key",)
    readonly_fields = ("lineage",)

    def get_search_results(self, request: HttpRequest, queryset: QuerySet[Any], search_term: str) -> tuple[Any, bool]:
        return selectors.search(queryset, search_term, self.uuid_search, self.key_search), False

    @admin.display(description="lineage")
    def lineage(self, obj: Checkpoint) -> str:
        return lineage_link(obj.trace_id)

    @admin.display(description="order", ordering="order_id")
    def order(self, obj: Checkpoint) -> str:
        return lineage_link(obj.trace_id, str(getattr(obj, "order_id", obj.trace_id)))


class CheckpointChildAdmin(ReadOnlyAdmin[CheckpointChild]):
    """Rows a checkpoint owns (an order's line items), listed with their parent."""

    uuid_search: tuple[str, ...] = ("pk",)

    def get_search_results(self, request: HttpRequest, queryset: QuerySet[Any], search_term: str) -> tuple[Any, bool]:
        return selectors.search(queryset, search_term, self.uuid_search, ()), False


def small_fields(model: type[Model]) -> list[str]:
    names = []
    for field in model._meta.concrete_fields:
        if field.name in BASE_FIELDS or field.is_relation or not isinstance(field, SMALL_FIELDS):
            continue
        if isinstance(field, models.CharField) and (field.max_length or 0) > 100:
            continue
        names.append(field.name)
    return names[:MAX_LISTED_FIELDS]


def checkpoint_admin_for(model: type[Checkpoint]) -> type[CheckpointAdmin]:
    has_order = any(f.name == "order_id" for f in model._meta.concrete_fields)
    extra = small_fields(model)
    attrs: dict[str, Any] = {
        "list_display": (
            "id",
            "created_at",
            *(["order"] if has_order else []),
            *extra,
            *([] if has_order else ["lineage"]),
        ),
        "list_columns": ("id", "created_at", "trace_id", *(["order_id"] if has_order else []), *extra),
        "search_fields": ("=order_id", "=trace_id", "=idempotency_key")
        if has_order
        else ("=trace_id", "=idempotency_key"),
        "uuid_search": ("pk", "trace_id", "order_id") if has_order else ("pk", "trace_id"),
        "__module__": __name__,
    }
    return type(f"{model.__name__}Admin", (CheckpointAdmin,), attrs)


def child_admin_for(model: type[CheckpointChild]) -> type[CheckpointChildAdmin]:
    relations = [f for f in model._meta.concrete_fields if f.is_relation]
    extra = [f.name for f in model._meta.concrete_fields if not f.is_relation and f.name != "id"][:MAX_LISTED_FIELDS]
    attrs: dict[str, Any] = {
        "list_display": ("id", *[f.name for f in relations], *extra),
        "list_select_related": tuple(f.name for f in relations) or False,
        "search_fields": tuple(f"={f.name}__order_id" for f in relations),
        "uuid_search": ("pk", *[f"{f.name}__order_id" for f in relations if _has_order(f.related_model)]),
        "ordering": ("-pk",),
        "__module__": __name__,
    }
    return type(f"{model.__name__}Admin", (CheckpointChildAdmin,), attrs)


def _has_order(model: type[Model] | None) -> bool:
    return model is not None and any(f.name == "order_id" for f in model._meta.concrete_fields)


def console_checkpoint_models() -> list[type[Model]]:
    """Every checkpoint model: the composition's, plus any other installed (remediation facts, owned rows)."""
    found: dict[str, type[Model]] = {m._meta.label: m for m in checkpoint_models().values()}
    for model in apps.get_models():
        if classify(model) == "checkpoint":
            found.setdefault(model._meta.label, model)
    return [found[label] for label in sorted(found)]


def register(site: admin.AdminSite) -> None:
    for model in console_checkpoint_models():
        if site.is_registered(model):
            continue
        if issubclass(model, Checkpoint):
            site.register(model, checkpoint_admin_for(model))
        elif issubclass(model, CheckpointChild):
            site.register(model, child_admin_for(model))
