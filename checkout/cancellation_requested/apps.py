from django.apps import AppConfig


class CancellationRequestedConfig(AppConfig):
    name = "checkout.cancellation_requested"
    label = "cancellation_requested"
    default_auto_field = "django.db.models.BigAutoField"
