from django.apps import AppConfig


class OrderRejectedConfig(AppConfig):
    name = "checkout.order_rejected"
    label = "order_rejected"
    default_auto_field = "django.db.models.BigAutoField"
