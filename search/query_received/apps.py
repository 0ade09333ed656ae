"""search: the query, as received."""

from django.apps import AppConfig


class QueryReceivedConfig(AppConfig):
    name = "search.query_received"
    label = "query_received"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.core import checks

        from search.checks import check_settings

        # The lane's settings (the first of its apps registers the check for all of them).
        checks.register(check_settings)
