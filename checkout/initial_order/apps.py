from django.apps import AppConfig


class InitialOrderConfig(AppConfig):
    name = "checkout.initial_order"
    label = "initial_order"
    default_auto_field = "django.db.models.BigAutoField"
