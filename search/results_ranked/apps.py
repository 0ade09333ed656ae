"""ranking: the merged hits ranked, the lane's published answer."""

from django.apps import AppConfig


class ResultsRankedConfig(AppConfig):
    name = "search.results_ranked"
    label = "results_ranked"
    default_auto_field = "django.db.models.BigAutoField"
