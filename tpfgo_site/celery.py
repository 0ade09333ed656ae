"""The Celery app: it only resumes parked work and sweeps; it never builds the synchronous chain."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tpfgo_site.settings")

app = Celery("tpfgo")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
