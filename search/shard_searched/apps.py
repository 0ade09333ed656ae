"""search: one shard's answer per shard (the fan-out, a split 1→N)."""

from django.apps import AppConfig


class ShardSearchedConfig(AppConfig):
    name = "search.shard_searched"
    label = "shard_searched"
    default_auto_field = "django.db.models.BigAutoField"
