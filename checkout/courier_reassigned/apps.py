from django.apps import AppConfig


class CourierReassignedConfig(AppConfig):
    name = "checkout.courier_reassigned"
    label = "courier_reassigned"
    default_auto_field = "django.db.models.BigAutoField"
