"""Liveness and readiness: readiness checks only what stops this instance from serving."""

from __future__ import annotations

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def readyz(request: HttpRequest) -> JsonResponse:
    checks = readiness()
    ready = all(value == "ok" for value in checks.values())
    return JsonResponse({"status": "ok" if ready else "unavailable", "checks": checks}, status=200 if ready else 503)


def readiness() -> dict[str, str]:
    """What /readyz and the gRPC health service report: ``"ok"`` or ``"failed: <why>"`` per dependency."""
    return {"database": database_check(), "broker": broker_check()}


def database_check() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return "ok"
    except Exception as exc:  # noqa: BLE001  (readiness reports any failure as "not ready")
        # A broken connection is dropped, so the next check reconnects once the database is back.
        connection.close()
        return f"failed: {exc.__class__.__name__}"


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
