from django.apps import AppConfig


class AuthorizationVoidedConfig(AppConfig):
    name = "checkout.authorization_voided"
    label = "authorization_voided"
    default_auto_field = "django.db.models.BigAutoField"
