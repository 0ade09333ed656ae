"""order-revision: the gateway re-authorizes the revised total (a decision)."""

from django.apps import AppConfig


class PaymentReauthorizedConfig(AppConfig):
    name = "checkout.payment_reauthorized"
    label = "payment_reauthorized"
    default_auto_field = "django.db.models.BigAutoField"
