"""Deployment checks of the site's own settings (``manage.py check --deploy``)."""

from __future__ import annotations

from django.conf import settings
from django.core import checks

from tpfgo_site.settings import DEVELOPMENT_SECRET_KEY


@checks.register(checks.Tags.security, deploy=True)
def development_secret_key(app_configs: object = None, **kwargs: object) -> list[checks.CheckMessage]:
    """The built-in development key signs sessions and tokens with a value anyone can read in the repository."""
    if settings.SECRET_KEY != DEVELOPMENT_SECRET_KEY:
        return []
    return [
        checks.Warning(
            "SECRET_KEY is the built-in development key, which is public",
            hint="Set DJANGO_SECRET_KEY to a long random value of your own (for example the output of "
            "`python -c 'import secrets; print(secrets.token_urlsafe(50))'`).",
            id="tpfgo_site.W001",
        )
    ]
