from django.apps import AppConfig


class OrderDeliveredConfig(AppConfig):
    name = "checkout.order_delivered"
    label = "order_delivered"
    default_auto_field = "django.db.models.BigAutoField"
