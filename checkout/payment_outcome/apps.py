from django.apps import AppConfig


class PaymentOutcomeConfig(AppConfig):
    name = "checkout.payment_outcome"
    label = "payment_outcome"
    default_auto_field = "django.db.models.BigAutoField"
