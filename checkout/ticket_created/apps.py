from django.apps import AppConfig


class TicketCreatedConfig(AppConfig):
    name = "checkout.ticket_created"
    label = "ticket_created"
    default_auto_field = "django.db.models.BigAutoField"
