"""order-revision: the order's new line items and total."""

from django.apps import AppConfig


class RevisedOrderConfig(AppConfig):
    name = "checkout.revised_order"
    label = "revised_order"
    default_auto_field = "django.db.models.BigAutoField"
