"""``manage.py bootstrap``: make sure a first run can log in, then print where to go and with what."""

from __future__ import annotations

import os

from django.conf import settings
from django.core.management.base import BaseCommand
from django.urls import Resolver404, resolve

from opsconsole.bootstrap import ensure_local_access

PATHS = (
    ("ops console", "/ops/"),
    ("API docs", "/api/v1/docs"),
    ("API ReDoc", "/api/v1/redoc"),
    ("API schema", "/api/v1/schema"),
    ("health", "/healthz"),
    ("readiness", "/readyz"),
    ("metrics", "/metrics"),
)


class Command(BaseCommand):
    help = "Create the ops staff user and a token per demo role (idempotent) and print the URLs and credentials."

    def handle(self, *args: object, **options: object) -> None:
        access = ensure_local_access(os.environ.get("TPFGO_OPS_PASSWORD") or None)
        base = f"http://127.0.0.1:{os.environ.get('PORT', '8000')}"
        lines = ["", "TPFGo is starting:"]
        lines += [f"  {label:<12} {base}{path}" for label, path in PATHS if served(path)]
        grpc_address = f"127.0.0.1:{os.environ.get('GRPC_PORT', '50051')}"
        lines.append(f"  {'gRPC':<12} {grpc_address}  (health: grpc.health.v1.Health; reflection on)")
        if settings.TPFGO_GRPC_METRICS_BIND:  # make run sets it (GRPC_METRICS_PORT)
            lines.append(
                f"  {'gRPC metrics':<12} http://{settings.TPFGO_GRPC_METRICS_BIND}/  (the gRPC server's own streams' "
                "gauges, for Prometheus)"
            )
        ops, *roles = access.tokens  # DEMO_ROLES starts with ops (the api user): the line scripts already read
        lines += [
            f"  ops login    {access.ops_username} / {access.ops_password or '(its password, unchanged)'}",
            f"  API token    {ops.key}  (user {ops.name}, kind ops: every route; header 'Authorization: Token <key>')",
            "  role tokens  (each may call only its role's routes; docs/api.md, Principals and scopes)",
        ]
        for issued in roles:
            bound = f" for {issued.binding}" if issued.binding else ""
            lines.append(f"    {issued.kind + bound:<30} {issued.key}  (principal {issued.name})")
        lines += [f"    skipped {reason} (run manage.py load_demo first)" for reason in access.skipped]
        lines.append("")
        self.stdout.write("\n".join(lines))


def served(path: str) -> bool:
    """Only print URLs that this build routes."""
    try:
        resolve(path)
    except Resolver404:
        return False
    return True
