from django.apps import AppConfig


class OrderReadyForDispatchConfig(AppConfig):
    name = "checkout.order_ready_for_dispatch"
    label = "order_ready_for_dispatch"
    default_auto_field = "django.db.models.BigAutoField"
