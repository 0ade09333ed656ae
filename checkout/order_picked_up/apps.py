from django.apps import AppConfig


class OrderPickedUpConfig(AppConfig):
    name = "checkout.order_picked_up"
    label = "order_picked_up"
    default_auto_field = "django.db.models.BigAutoField"
