from django.apps import AppConfig


class TicketWithdrawnConfig(AppConfig):
    name = "checkout.ticket_withdrawn"
    label = "ticket_withdrawn"
    default_auto_field = "django.db.models.BigAutoField"
