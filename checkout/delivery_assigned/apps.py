from django.apps import AppConfig


class DeliveryAssignedConfig(AppConfig):
    name = "checkout.delivery_assigned"
    label = "delivery_assigned"
    default_auto_field = "django.db.models.BigAutoField"
