from django.apps import AppConfig


class CancellationDecisionConfig(AppConfig):
    name = "checkout.cancellation_decision"
    label = "cancellation_decision"
    default_auto_field = "django.db.models.BigAutoField"
