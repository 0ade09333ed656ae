"""Read-only ModelAdmins for checkpoint and ledger rows, and changelists that stay fast on large tables.

Nobody, not even a superuser, may add, change or delete such a row from the console: the permission
methods answer False whatever the user's permissions, so a crafted POST gets 403. Changelists never run
a full COUNT (nor Django's per-filter facet counts), select only the columns they list, and follow only the
relations they show.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, TypeVar

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.functional import cached_property

from checkout import personal
from opsconsole import selectors
from pipelines import storage

_M = TypeVar("_M", bound=Model)

# A changelist counts at most this many rows; past it, narrow with the date hierarchy, filters or search.
COUNT_CAP = 10_000


class CappedCountPaginator(Paginator[Any]):
    """Counts through a bounded subquery (``LIMIT COUNT_CAP``), never the whole table."""

    @cached_property
    def count(self) -> int:
        return selectors.bounded_count(self.object_list, COUNT_CAP)


class ListColumnsChangeList(ChangeList):
    """Loads only the listed columns, so payloads, tracebacks and JSON stay in the database."""

    def get_filters(self, request: HttpRequest) -> Any:
        """Django's filters; a date drill-down beyond what a date holds (``created_at__year=99999999999999999999``,
        or December of year 9999) raises ``OverflowError`` in Django's own code: here it is a bad lookup, which the
        changelist answers as it answers any (a redirect to the list with ``?e=1``), not a 500."""
        try:
            return super().get_filters(request)
        except OverflowError as exc:
            raise IncorrectLookupParameters(exc) from exc

    def get_queryset(self, request: HttpRequest, exclude_parameters: Any = None) -> QuerySet[Any]:
        queryset = super().get_queryset(request, exclude_parameters)
        columns: tuple[str, ...] = getattr(self.model_admin, "list_columns", ())
        return selectors.only_columns(queryset, columns)


class ReadOnlyAdmin(admin.ModelAdmin[_M]):
    """The base of every checkpoint and ledger admin: view only, explicit (empty) actions, no full COUNT."""

    actions: Sequence[Any] | None = ()
    show_full_result_count = False
    # Django's facets ("Show counts") count each filter choice over the whole table.
    show_facets = admin.ShowFacets.NEVER
    paginator = CappedCountPaginator
    list_per_page = 50
    change_list_template = "opsconsole/readonly_change_list.html"
    list_select_related: ClassVar[bool | list[str] | tuple[str, ...]] = False
    # The small columns the changelist loads (besides the primary key); empty means every column.
    list_columns: tuple[str, ...] = ()

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def get_changelist(self, request: HttpRequest, **kwargs: object) -> type[ChangeList]:
        return ListColumnsChangeList

    def response_action(self, request: HttpRequest, queryset: QuerySet[Any], *args: object, **kwargs: object) -> Any:
        """Django's action handling, once every selected row id is an id of this model: a tampered POST (an id
        that is no UUID, a NUL) gets a message and the list again, not a 500 from the query's ``pk__in``."""
        pk = self.model._meta.pk
        assert pk is not None
        try:
            for value in request.POST.getlist(helpers.ACTION_CHECKBOX_NAME):
                pk.to_python(value)
        except ValidationError:
            self.message_user(request, "The selected ids are not rows of this list: nothing was done.", messages.ERROR)
            return None  # the changelist redirects to itself
        return super().response_action(request, queryset, *args, **kwargs)  # type: ignore[arg-type]

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """Django's page, rendered inside one read scope: the order's facts, forks and view that the page's
        fields each ask for are read once for the page, not once per field (rendering happens here, since Django
        renders a template response after the view returned, outside any scope the view opened)."""
        with storage.read_scope():
            response = super().change_view(request, object_id, form_url, extra_context)
            if isinstance(response, TemplateResponse):
                response.render()
            return response

    def get_object(self, request: HttpRequest, object_id: str, from_field: str | None = None) -> _M | None:
        """The row with its sealed personal data opened for display, or ``[erased]``, and its payment tokens (a
        column, or a key of a payload) as the viewer may see them (``checkout.personal.shown``). Only this in-memory
        copy changes: the console never saves a checkpoint or ledger row."""
        obj = super().get_object(request, object_id, from_field)
        if obj is not None:
            for field in obj._meta.concrete_fields:
                value = getattr(obj, field.attname)
                if isinstance(value, str | dict | list):
                    setattr(obj, field.attname, personal.shown(value, request.user, field.name))
        return obj

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        # Only the actions a subclass declares: never the site-wide delete_selected.
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions
