"""``checkout.E002``: a field the JSON serializers render that its ``tpfgo.checkout.v1`` message lacks is named by
``manage.py check``; otherwise only a gRPC or protobuf-over-HTTP answer of an order would find it, failing."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from rest_framework import serializers

from checkout import wire_checks
from checkout.order_view import OrderLineSerializer, OrderViewSerializer
from checkout.protos import orders_pb2


class LoyalOrderView(OrderViewSerializer):
    loyaltyPoints = serializers.IntegerField(source="loyalty_points", allow_null=True)


class TaxedLine(OrderLineSerializer):
    taxRate = serializers.CharField(source="tax_rate")


class TaxedOrderView(OrderViewSerializer):
    lines = TaxedLine(many=True)
    checkpoints = serializers.CharField()  # a list in the message


def test_every_shipped_answer_fits_its_message():
    assert wire_checks.check_answers() == []


def test_a_view_field_missing_from_the_message_is_named_by_manage_py_check(monkeypatch):
    monkeypatch.setattr(wire_checks, "answers", lambda: ((LoyalOrderView, orders_pb2.Order),))

    [error] = wire_checks.check_answers()

    assert error.id == "checkout.E002"
    assert error.msg == (
        "LoyalOrderView.loyaltyPoints has no field in message tpfgo.checkout.v1.Order of checkout/protos/orders.proto "
        "(expected a field whose JSON name is 'loyaltyPoints' actual=none)"
    )
    with pytest.raises(SystemCheckError, match=r"checkout\.E002"):
        call_command("check", stdout=StringIO(), stderr=StringIO())


def test_nested_fields_and_lists_are_compared_with_their_messages():
    found = list(wire_checks.mismatches(TaxedOrderView(), orders_pb2.Order.DESCRIPTOR, "TaxedOrderView"))

    assert found == [
        "TaxedOrderView.lines.taxRate has no field in message tpfgo.checkout.v1.OrderLine of "
        "checkout/protos/orders.proto (expected a field whose JSON name is 'taxRate' actual=none)",
        "TaxedOrderView.checkpoints is a single value but tpfgo.checkout.v1.Order.checkpoints is repeated "
        "(expected=single actual=repeated)",
    ]
