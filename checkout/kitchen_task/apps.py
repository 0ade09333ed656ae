from django.apps import AppConfig


class KitchenTaskConfig(AppConfig):
    name = "checkout.kitchen_task"
    label = "kitchen_task"
    default_auto_field = "django.db.models.BigAutoField"
