from django.apps import AppConfig


class LaneConfig(AppConfig):
    name = "tests.lane"
    label = "lane"
    default_auto_field = "django.db.models.BigAutoField"
