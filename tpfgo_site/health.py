"""Liveness and readiness: readiness checks only what stops this instance from serving.

``/readyz`` (and the gRPC health service) report the database and the broker, but only the database decides: with
the broker down this node still serves (the synchronous chain runs, parked retries wait in the database), so a
broker outage answers 200 ``degraded`` with ``broker: failed`` in the body rather than 503, which would make a load
balancer take every node out at once. Each check is counted (``tpfgo_readiness_checks_total``), which the alert
``TPFGoBrokerUnreachable`` reads.
"""

from __future__ import annotations

from typing import cast

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from prometheus_client import Counter

SERVING_NEEDS = ("database",)  # the checks whose failure stops this instance from serving (503 / NOT_SERVING)

CHECKS = Counter(
    "tpfgo_readiness_checks_total",
    "Readiness checks run by /readyz and the gRPC health, per check (database, broker) and result (ok, failed).",
    ["check", "result"],
)


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def readyz(request: HttpRequest) -> JsonResponse:
    checks = readiness()
    ready = serves(checks)
    status = "unavailable" if not ready else "ok" if all(v == "ok" for v in checks.values()) else "degraded"
    return JsonResponse({"status": status, "checks": checks}, status=200 if ready else 503)


def serves(checks: dict[str, str]) -> bool:
    """Whether this instance can serve: every check in ``SERVING_NEEDS`` is ``"ok"`` (the broker is not one)."""
    return all(checks.get(name) == "ok" for name in SERVING_NEEDS)


def readiness() -> dict[str, str]:
    """What /readyz and the gRPC health service report: ``"ok"`` or ``"failed: <why>"`` per dependency."""
    checks = {"database": database_check(), "broker": broker_check()}
    for name, value in checks.items():
        CHECKS.labels(name, "ok" if value == "ok" else "failed").inc()
    return checks


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
        # One attempt, no retry after a pause: the probe asks again, and its answer must come within its timeout.
        with app.connection_for_write(transport_options=readiness_transport_options()) as conn:
            conn.ensure_connection(max_retries=0)
        return "ok"
    except Exception as exc:  # noqa: BLE001  (any broker error means not ready)
        return f"failed: {exc.__class__.__name__}"


def readiness_transport_options() -> dict[str, float]:
    """A Redis broker's timeouts for the readiness check (one attempt): at most ``TPFGO_READINESS_BROKER_TIMEOUT``
    seconds (1 s) to connect, and as long for the answer, below a load balancer's probe timeout (1-5 s), so a broker
    that stopped answering reads ``broker: failed`` in time rather than the probe timing out. Publishes keep the
    broker's own (``TPFGO_BROKER_SOCKET_TIMEOUT``, 5 s). Other brokers: none (their transports take no such option)."""
    own = cast(dict[str, float], settings.CELERY_BROKER_TRANSPORT_OPTIONS)
    bound = float(settings.TPFGO_READINESS_BROKER_TIMEOUT)
    return {name: min(float(own[name]), bound) for name in ("socket_connect_timeout", "socket_timeout") if name in own}
