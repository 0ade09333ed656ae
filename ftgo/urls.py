"""``/ftgo/`` routes (mounted by the root URLconf): FTGO's paths, each on one view of ``ftgo.views``.

FTGO's services run on Spring MVC, which matches a path ending in one ``/`` as the same path without it, and FTGO's
own clients send such paths (its consumer service's pass-through posts to ``/orders/`` and ``/restaurants/``). So
each route is also served with one trailing ``/``, under the same name (the name the scopes and ``reverse`` use: the
route without the ``/`` is listed last, so ``reverse`` gives it). The schema lists each route once, without it.
"""

from __future__ import annotations

from typing import Any

from django.urls import URLPattern, path

from ftgo import views

ROUTES: list[URLPattern] = [
    path("consumers", views.ConsumersView.as_view(), name="ftgo-consumers"),
    path("consumers/<str:consumer_id>", views.ConsumerView.as_view(), name="ftgo-consumer"),
    path("accounts/<str:account_id>", views.AccountView.as_view(), name="ftgo-account"),
    path("restaurants", views.RestaurantsView.as_view(), name="ftgo-restaurants"),
    path("restaurants/<str:restaurant_id>", views.RestaurantView.as_view(), name="ftgo-restaurant"),
    path("orders", views.OrdersView.as_view(), name="ftgo-orders"),
    path("orders/<str:order_id>", views.OrderView.as_view(), name="ftgo-order"),
    path("orders/<str:order_id>/cancel", views.CancelView.as_view(), name="ftgo-order-cancel"),
    path("orders/<str:order_id>/revise", views.ReviseView.as_view(), name="ftgo-order-revise"),
    path("tickets/<str:ticket_id>/accept", views.AcceptTicketView.as_view(), name="ftgo-ticket-accept"),
    path("couriers/<str:courier_id>/availability", views.CourierAvailabilityView.as_view(), name="ftgo-courier"),
    path("deliveries/<str:delivery_id>", views.DeliveryView.as_view(), name="ftgo-delivery"),
]
urlpatterns: list[URLPattern] = [path(f"{route.pattern}/", route.callback, name=route.name) for route in ROUTES]
urlpatterns += ROUTES


def one_path_per_route(endpoints: list[tuple[str, str, str, Any]]) -> list[tuple[str, str, str, Any]]:
    """A drf-spectacular preprocessing hook (``SPECTACULAR_SETTINGS["PREPROCESSING_HOOKS"]``): an ``/ftgo/`` route
    without its trailing-``/`` twin."""
    return [endpoint for endpoint in endpoints if not (endpoint[0].startswith("/ftgo/") and endpoint[0].endswith("/"))]
