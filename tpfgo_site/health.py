"""Liveness and readiness: readiness checks only what stops this instance from serving."""

from __future__ import annotations

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def readyz(request: HttpRequest) -> JsonResponse:
    checks: dict[str, str] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001  (readiness reports any failure as "not ready")
        checks["database"] = f"failed: {exc.__class__.__name__}"
    checks["broker"] = broker_check()
    ready = all(value == "ok" for value in checks.values())
    return JsonResponse({"status": "ok" if ready else "unavailable", "checks": checks}, status=200 if ready else 503)


def broker_check() -> str:
    from tpfgo_site.celery import app

    if settings.CELERY_BROKER_URL == "filesystem://":
        return "ok" if settings.CELERY_BROKER_FOLDER.exists() else "failed: broker folder missing"
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return "ok"
    except Exception as exc:  # noqa: BLE001  (any broker error means not ready)
        return f"failed: {exc.__class__.__name__}"
