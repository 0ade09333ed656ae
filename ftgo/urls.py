"""``/ftgo/`` routes (mounted by the root URLconf): FTGO's paths, each on one view of ``ftgo.views``."""

from __future__ import annotations

from django.urls import URLPattern, path

from ftgo import views

urlpatterns: list[URLPattern] = [
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
