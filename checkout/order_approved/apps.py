from django.apps import AppConfig


class OrderApprovedConfig(AppConfig):
    name = "checkout.order_approved"
    label = "order_approved"
    default_auto_field = "django.db.models.BigAutoField"
