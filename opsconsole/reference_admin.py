"""Reference data (mutable, not checkpoints) and accounts in the console.

Ops may change a courier's availability; everything else here is governed by ordinary Django permissions
(the ``ops`` group views reference data, superusers manage it and the accounts). Editing reference data never
changes an order: pipeline 01 snapshots what it needs.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group, User
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from checkout import personal
from checkout.models import Consumer, Courier, MenuItem, Restaurant
from opsconsole import ops_actions, reference


class CourierAdmin(admin.ModelAdmin[Courier]):
    list_display = ("id", "name", "available", "completion_mode", "active_deliveries")
    list_filter = ("available", "completion_mode")
    search_fields = ("id", "name")
    ordering = ("id",)
    actions = ("make_available", "make_unavailable")

    def get_readonly_fields(self, request: HttpRequest, obj: Courier | None = None) -> Any:
        """Ops change a courier's availability only (docs/operations.md, "Who may do what"): its id, name and
        completion mode stay as they are, and a changed id cannot save a copy, which would add a courier without
        the add permission. A superuser manages reference data."""
        if obj is None or request.user.is_superuser:
            return super().get_readonly_fields(request, obj)
        return ("id", "name", "completion_mode")

    @admin.display(description="active deliveries")
    def active_deliveries(self, obj: Courier) -> int:
        return reference.active_deliveries(obj.pk)

    @admin.action(description="Make the selected couriers available", permissions=["change"])
    def make_available(self, request: HttpRequest, queryset: QuerySet[Courier]) -> None:
        changed = reference.set_availability(queryset, available=True)
        self.message_user(request, f"{changed} courier(s) now available.", messages.SUCCESS)

    @admin.action(description="Make the selected couriers unavailable", permissions=["change"])
    def make_unavailable(self, request: HttpRequest, queryset: QuerySet[Courier]) -> None:
        changed = reference.set_availability(queryset, available=False)
        self.message_user(request, f"{changed} courier(s) now unavailable.", messages.SUCCESS)


class ConsumerAdmin(admin.ModelAdmin[Consumer]):
    list_display = ("id", "name", "active", "payment_token_hint")
    list_filter = ("active",)
    search_fields = ("id", "name")
    ordering = ("id",)
    actions = ("erase_personal_data",)

    @admin.display(description="payment token")
    def payment_token_hint(self, obj: Consumer) -> str:
        return personal.token_hint(obj.payment_token)

    def get_fields(self, request: HttpRequest, obj: Consumer | None = None) -> Any:
        """The token on file whole only to who ``checkout.personal.sees_whole_payment_tokens`` (a superuser, who
        manages reference data and may change it); everyone else its last four characters."""
        fields = list(super().get_fields(request, obj))
        if personal.sees_whole_payment_tokens(request.user):
            return fields
        hint = "payment_token_hint"  # in the token's place (Django adds it last, as a read-only field)
        return [hint if name == "payment_token" else name for name in fields if name != hint]

    def get_readonly_fields(self, request: HttpRequest, obj: Consumer | None = None) -> Any:
        readonly = tuple(super().get_readonly_fields(request, obj))
        whole = personal.sees_whole_payment_tokens(request.user)
        return readonly if whole else (*readonly, "payment_token_hint")

    def has_erase_permission(self, request: HttpRequest) -> bool:
        return ops_actions.can_remediate(request.user)

    def has_delete_permission(self, request: HttpRequest, obj: Consumer | None = None) -> bool:
        """Nobody deletes a consumer here, a superuser neither: a deleted consumer's name stayed in the console's
        history (Django's own deletion entry), and the erasure, which blanks it there, could no longer find them.
        Personal data leaves by erasure (docs/operations.md, "Erasure of personal data")."""
        return False

    @admin.action(description="Erase the selected consumer's personal data", permissions=["erase"])
    def erase_personal_data(self, request: HttpRequest, queryset: QuerySet[Consumer]) -> HttpResponse | None:
        """One consumer at a time, through the erasure page (it shows what erasure does and asks why)."""
        chosen = list(queryset.values_list("pk", flat=True)[:2])
        if len(chosen) != 1:
            self.message_user(request, "Choose exactly one consumer to erase.", messages.WARNING)
            return None
        return HttpResponseRedirect(reverse("ops:erasure", args=[chosen[0]]))


class MenuItemInline(admin.TabularInline[MenuItem, Restaurant]):
    model = MenuItem
    extra = 0


class RestaurantAdmin(admin.ModelAdmin[Restaurant]):
    list_display = ("id", "name", "acceptance_mode", "currency", "order_minimum")
    list_filter = ("acceptance_mode",)
    search_fields = ("id", "name")
    ordering = ("id",)
    inlines = (MenuItemInline,)


class MenuItemAdmin(admin.ModelAdmin[MenuItem]):
    list_display = ("item_id", "name", "restaurant", "price")
    list_select_related = ("restaurant",)
    search_fields = ("item_id", "name")


def register(site: admin.AdminSite) -> None:
    site.register(Courier, CourierAdmin)
    site.register(Consumer, ConsumerAdmin)
    site.register(Restaurant, RestaurantAdmin)
    site.register(MenuItem, MenuItemAdmin)
    site.register(User, UserAdmin)
    site.register(Group, GroupAdmin)
