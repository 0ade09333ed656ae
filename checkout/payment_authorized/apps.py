from django.apps import AppConfig


class PaymentAuthorizedConfig(AppConfig):
    name = "checkout.payment_authorized"
    label = "payment_authorized"
    default_auto_field = "django.db.models.BigAutoField"
