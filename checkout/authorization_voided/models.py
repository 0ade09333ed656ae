"""The payment authorization is voided (restaurant declined, cancellation, rejected capture)."""

from django.db import models

from checkout.base import OrderCheckpoint
from pipelines import declared, numbered


class AuthorizationVoided(OrderCheckpoint):
    """``reason`` is the code of the path that voided it."""

    contract = declared("AuthorizationVoided", 1)

    authorization_id = numbered(2, models.CharField(max_length=100))
    reason = numbered(3, models.CharField(max_length=40))
    voided_at = numbered(4, models.DateTimeField())

    class Meta(OrderCheckpoint.Meta):
        verbose_name = "authorization voided"
        verbose_name_plural = "authorizations voided"
