from django.apps import AppConfig


class DeliveryEscalatedConfig(AppConfig):
    name = "checkout.delivery_escalated"
    label = "delivery_escalated"
    default_auto_field = "django.db.models.BigAutoField"
