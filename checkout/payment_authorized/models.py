"""The pivot's two outcomes: the payment is authorized, or declined (which ends pipeline 02)."""

from django.db import models

from checkout import contracts
from checkout.base import OrderCheckpoint


class PaymentAuthorized(OrderCheckpoint):
    """The gateway authorized the order total."""

    contract = contracts.PAYMENT_AUTHORIZED

    authorization_id = models.CharField(max_length=100)
    amount = models.DecimalField(max_digits=12, decimal_places=2)

    class Meta(OrderCheckpoint.Meta):
        verbose_name = "payment authorized"
        verbose_name_plural = "payments authorized"


class PaymentDeclined(OrderCheckpoint):
    """The gateway declined the authorization."""

    contract = contracts.PAYMENT_DECLINED

    decline_code = models.CharField(max_length=60)

    class Meta(OrderCheckpoint.Meta):
        verbose_name = "payment declined"
        verbose_name_plural = "payments declined"
