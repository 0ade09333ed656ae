"""The FTGO-compatible surface: the alias ledger (FTGO's numeric ids) and the ``/ftgo/`` routes."""

from __future__ import annotations

from django.apps import AppConfig


class FtgoConfig(AppConfig):
    name = "ftgo"
    verbose_name = "FTGO-compatible surface"
    default_auto_field = "django.db.models.BigAutoField"
