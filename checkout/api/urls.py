"""``/api/v1/`` routes (mounted by the root URLconf). The schema and its Swagger UI are the only open routes."""

from __future__ import annotations

from django.urls import URLPattern, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.permissions import AllowAny

from checkout.api import ingest_views, views
from checkout.api import reference_views as reference

urlpatterns: list[URLPattern] = [
    path("orders", views.OrdersView.as_view(), name="api-orders"),
    # Before orders/<order_id>, which would otherwise take "ingest" for an order id.
    path("orders/ingest", ingest_views.IngestView.as_view(), name="api-orders-ingest"),
    path("orders/<str:order_id>", views.OrderView.as_view(), name="api-order"),
    path("orders/<str:order_id>/lineage", views.LineageView.as_view(), name="api-order-lineage"),
    path("orders/<str:order_id>/cancel", views.CancelView.as_view(), name="api-order-cancel"),
    path("orders/<str:order_id>/revise", views.ReviseView.as_view(), name="api-order-revise"),
    path("tickets/<str:ticket_id>/accept", views.AcceptTicketView.as_view(), name="api-ticket-accept"),
    path("tickets/<str:ticket_id>/reject", views.RejectTicketView.as_view(), name="api-ticket-reject"),
    path("deliveries/<str:dispatch_id>/pickup", views.PickupView.as_view(), name="api-delivery-pickup"),
    path("deliveries/<str:dispatch_id>/dropoff", views.DropoffView.as_view(), name="api-delivery-dropoff"),
    path("consumers", reference.ConsumersView.as_view(), name="api-consumers"),
    path("restaurants", reference.RestaurantsView.as_view(), name="api-restaurants"),
    path("couriers", reference.CouriersView.as_view(), name="api-couriers"),
    path(
        "couriers/<str:courier_id>/availability",
        reference.CourierAvailabilityView.as_view(),
        name="api-courier-availability",
    ),
    path(
        "schema",
        SpectacularAPIView.as_view(authentication_classes=[], permission_classes=[AllowAny]),
        name="api-schema",
    ),
    path(
        "docs",
        SpectacularSwaggerView.as_view(url_name="api-schema", authentication_classes=[], permission_classes=[AllowAny]),
        name="api-docs",
    ),
]
