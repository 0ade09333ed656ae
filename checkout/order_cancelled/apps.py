from django.apps import AppConfig


class OrderCancelledConfig(AppConfig):
    name = "checkout.order_cancelled"
    label = "order_cancelled"
    default_auto_field = "django.db.models.BigAutoField"
