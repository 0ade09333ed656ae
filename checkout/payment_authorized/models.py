"""The pivot's two outcomes: the payment is authorized, or declined (which ends pipeline 02)."""

from django.db import models

from checkout.base import OrderCheckpoint
from pipelines import declared, numbered


class PaymentAuthorized(OrderCheckpoint):
    """The gateway authorized the order total."""

    contract = declared("PaymentAuthorized", 1)

    authorization_id = numbered(2, models.CharField(max_length=100))
    amount = numbered(3, models.DecimalField(max_digits=12, decimal_places=2))

    class Meta(OrderCheckpoint.Meta):
        verbose_name = "payment authorized"
        verbose_name_plural = "payments authorized"


class PaymentDeclined(OrderCheckpoint):
    """The gateway declined the authorization."""

    contract = declared("PaymentDeclined", 1)

    decline_code = numbered(2, models.CharField(max_length=60))

    class Meta(OrderCheckpoint.Meta):
        verbose_name = "payment declined"
        verbose_name_plural = "payments declined"
