from django.apps import AppConfig


class AcceptanceDecisionConfig(AppConfig):
    name = "checkout.acceptance_decision"
    label = "acceptance_decision"
    default_auto_field = "django.db.models.BigAutoField"
