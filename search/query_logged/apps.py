"""query-analytics: an optional side record of each answered query."""

from django.apps import AppConfig


class QueryLoggedConfig(AppConfig):
    name = "search.query_logged"
    label = "query_logged"
    default_auto_field = "django.db.models.BigAutoField"
