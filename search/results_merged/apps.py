"""search: the shards' answers merged (fan-in, N→1): complete, or partial when a shard missed the deadline."""

from django.apps import AppConfig


class ResultsMergedConfig(AppConfig):
    name = "search.results_merged"
    label = "results_merged"
    default_auto_field = "django.db.models.BigAutoField"
