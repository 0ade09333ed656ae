from django.apps import AppConfig


class RefundIssuedConfig(AppConfig):
    name = "checkout.refund_issued"
    label = "refund_issued"
    default_auto_field = "django.db.models.BigAutoField"
