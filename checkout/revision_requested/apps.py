"""order-revision: the consumer asked to change the order's line items."""

from django.apps import AppConfig


class RevisionRequestedConfig(AppConfig):
    name = "checkout.revision_requested"
    label = "revision_requested"
    default_auto_field = "django.db.models.BigAutoField"
