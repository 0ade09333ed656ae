"""order-revision: the kitchen ticket re-issued with the new line items."""

from django.apps import AppConfig


class RevisedTicketConfig(AppConfig):
    name = "checkout.revised_ticket"
    label = "revised_ticket"
    default_auto_field = "django.db.models.BigAutoField"
