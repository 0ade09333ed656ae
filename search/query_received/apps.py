"""search: the query, as received."""

from django.apps import AppConfig


class QueryReceivedConfig(AppConfig):
    name = "search.query_received"
    label = "query_received"
    default_auto_field = "django.db.models.BigAutoField"
