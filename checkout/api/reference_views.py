"""Reference-data routes: consumers, restaurants with their menus, couriers and their availability (JSON only)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from checkout import reference
from checkout.api import schema
from checkout.api import serializers as s
from checkout.api.base import ApiView


class ConsumersView(ApiView):
    """Consumers (reference data)."""

    @extend_schema(
        operation_id="listConsumers",
        tags=["reference data"],
        responses=schema.responses({200: s.ConsumerListSerializer}, schema.COMMON),
    )
    def get(self, request: Request) -> Response:
        return Response({"results": reference.list_consumers(request.user)})

    @extend_schema(
        operation_id="createConsumer",
        tags=["reference data"],
        request=s.ConsumerSerializer,
        responses=schema.responses({201: s.ConsumerSerializer}, (*schema.WITH_BODY, 409)),
    )
    def post(self, request: Request) -> Response:
        return Response(
            reference.create_consumer(s.validated(s.ConsumerSerializer, request.data), request.user), status=201
        )


class RestaurantsView(ApiView):
    """Restaurants with their menus (reference data)."""

    @extend_schema(
        operation_id="listRestaurants",
        tags=["reference data"],
        responses=schema.responses({200: s.RestaurantListSerializer}, schema.COMMON),
    )
    def get(self, request: Request) -> Response:
        return Response({"results": reference.list_restaurants()})

    @extend_schema(
        operation_id="createRestaurant",
        tags=["reference data"],
        request=s.RestaurantSerializer,
        responses=schema.responses({201: s.RestaurantSerializer}, (*schema.WITH_BODY, 409)),
    )
    def post(self, request: Request) -> Response:
        return Response(reference.create_restaurant(s.validated(s.RestaurantSerializer, request.data)), status=201)


class CouriersView(ApiView):
    """Couriers (reference data)."""

    @extend_schema(
        operation_id="listCouriers",
        tags=["reference data"],
        responses=schema.responses({200: s.CourierListSerializer}, schema.COMMON),
    )
    def get(self, request: Request) -> Response:
        return Response({"results": reference.list_couriers()})

    @extend_schema(
        operation_id="createCourier",
        tags=["reference data"],
        request=s.CourierSerializer,
        responses=schema.responses({201: s.CourierSerializer}, (*schema.WITH_BODY, 409)),
    )
    def post(self, request: Request) -> Response:
        return Response(reference.create_courier(s.validated(s.CourierSerializer, request.data)), status=201)


class CourierAvailabilityView(ApiView):
    """Make a courier available for dispatch, or not."""

    @extend_schema(
        operation_id="setCourierAvailability",
        tags=["reference data"],
        request=s.AvailabilitySerializer,
        parameters=[schema.path_id("courier_id", "courier")],
        responses=schema.responses({200: s.CourierSerializer}, (*schema.WITH_BODY, 404)),
    )
    def put(self, request: Request, courier_id: str) -> Response:
        available = s.validated(s.AvailabilitySerializer, request.data)["available"]
        return Response(reference.set_courier_availability(courier_id, available))
