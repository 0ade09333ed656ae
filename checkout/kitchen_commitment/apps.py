from django.apps import AppConfig


class KitchenCommitmentConfig(AppConfig):
    name = "checkout.kitchen_commitment"
    label = "kitchen_commitment"
    default_auto_field = "django.db.models.BigAutoField"
