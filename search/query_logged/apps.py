"""ranking: the query analytics record, an optional aux branch of results_ranked."""

from django.apps import AppConfig


class QueryLoggedConfig(AppConfig):
    name = "search.query_logged"
    label = "query_logged"
    default_auto_field = "django.db.models.BigAutoField"
