"""The payment authorization is voided (restaurant declined, cancellation, rejected capture)."""

from django.db import models

from checkout import contracts
from checkout.base import OrderCheckpoint


class AuthorizationVoided(OrderCheckpoint):
    """``reason`` is the code of the path that voided it."""

    contract = contracts.AUTHORIZATION_VOIDED

    authorization_id = models.CharField(max_length=100)
    reason = models.CharField(max_length=40)
    voided_at = models.DateTimeField()

    class Meta(OrderCheckpoint.Meta):
        verbose_name = "authorization voided"
        verbose_name_plural = "authorizations voided"
