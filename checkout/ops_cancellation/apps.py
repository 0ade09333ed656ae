from django.apps import AppConfig


class OpsCancellationConfig(AppConfig):
    name = "checkout.ops_cancellation"
    label = "ops_cancellation"
    default_auto_field = "django.db.models.BigAutoField"
