from django.apps import AppConfig


class ReadyOrderConfig(AppConfig):
    name = "checkout.ready_order"
    label = "ready_order"
    default_auto_field = "django.db.models.BigAutoField"
