from django.apps import AppConfig


class TerminalOrderStateConfig(AppConfig):
    name = "checkout.terminal_order_state"
    label = "terminal_order_state"
    default_auto_field = "django.db.models.BigAutoField"
