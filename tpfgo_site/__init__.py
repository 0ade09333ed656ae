"""TPFGo site: settings, urls, WSGI/ASGI entry points and the Celery app."""

from tpfgo_site.celery import app as celery_app

__all__ = ["celery_app"]
