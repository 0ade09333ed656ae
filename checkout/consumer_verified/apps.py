from django.apps import AppConfig


class ConsumerVerifiedConfig(AppConfig):
    name = "checkout.consumer_verified"
    label = "consumer_verified"
    default_auto_field = "django.db.models.BigAutoField"
