from django.apps import AppConfig


class OpsCourierChoiceConfig(AppConfig):
    name = "checkout.ops_courier_choice"
    label = "ops_courier_choice"
    default_auto_field = "django.db.models.BigAutoField"
