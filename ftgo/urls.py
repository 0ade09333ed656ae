"""``/ftgo/`` routes (mounted by the root URLconf): FTGO's paths, each on one view of ``ftgo.views``.

FTGO's services run on Spring MVC, which matches a path ending in one ``/`` as the same path without it, and FTGO's
own clients send such paths (its consumer service's pass-through posts to ``/orders/`` and ``/restaurants/``). So
each route also matches with one trailing ``/``: the same route, not a second one, so its request metrics, traces,
scope and schema entry are the route's own, under its pattern without the ``/``.
"""

from __future__ import annotations

from typing import Any

from django.urls import URLPattern
from django.urls.resolvers import RoutePattern

from ftgo import views


class SlashOptionalPattern(RoutePattern):
    """A route that also matches its path with one trailing ``/`` (Spring MVC's trailing-slash match); ``reverse``
    gives the path without it, and the pattern (so ``ResolverMatch.route``) reads as the route."""

    def match(self, path: str) -> tuple[str, tuple[Any, ...], dict[str, Any]] | None:
        found: tuple[str, tuple[Any, ...], dict[str, Any]] | None = super().match(path)
        if found is None and path.endswith("/"):
            found = super().match(path[:-1])
        return found


def route(pattern: str, view: Any, name: str) -> URLPattern:
    return URLPattern(SlashOptionalPattern(pattern, name=name, is_endpoint=True), view, name=name)


urlpatterns: list[URLPattern] = [
    route("consumers", views.ConsumersView.as_view(), "ftgo-consumers"),
    route("consumers/<str:consumer_id>", views.ConsumerView.as_view(), "ftgo-consumer"),
    route("accounts/<str:account_id>", views.AccountView.as_view(), "ftgo-account"),
    route("restaurants", views.RestaurantsView.as_view(), "ftgo-restaurants"),
    route("restaurants/<str:restaurant_id>", views.RestaurantView.as_view(), "ftgo-restaurant"),
    route("orders", views.OrdersView.as_view(), "ftgo-orders"),
    route("orders/<str:order_id>", views.OrderView.as_view(), "ftgo-order"),
    route("orders/<str:order_id>/cancel", views.CancelView.as_view(), "ftgo-order-cancel"),
    route("orders/<str:order_id>/revise", views.ReviseView.as_view(), "ftgo-order-revise"),
    route("tickets/<str:ticket_id>/accept", views.AcceptTicketView.as_view(), "ftgo-ticket-accept"),
    route("couriers/<str:courier_id>/availability", views.CourierAvailabilityView.as_view(), "ftgo-courier"),
    route("deliveries/<str:delivery_id>", views.DeliveryView.as_view(), "ftgo-delivery"),
]
