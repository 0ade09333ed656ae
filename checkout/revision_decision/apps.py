"""order-revision: the revision is accepted or refused (a decision)."""

from django.apps import AppConfig


class RevisionDecisionConfig(AppConfig):
    name = "checkout.revision_decision"
    label = "revision_decision"
    default_auto_field = "django.db.models.BigAutoField"
