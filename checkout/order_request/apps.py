from django.apps import AppConfig


class OrderRequestConfig(AppConfig):
    name = "checkout.order_request"
    label = "order_request"
    default_auto_field = "django.db.models.BigAutoField"
