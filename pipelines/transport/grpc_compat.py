"""Every fix django-grpc-framework 0.2.1 needs on Django 5.2, protobuf 7 and grpcio 1.85, in one place.

1. ``grpcrunserver`` declares ``requires_system_checks = False``, which Django 5 rejects (a list or
   ``"__all__"``): ``RunserverCommand`` sets ``[]`` (``pipelines`` is listed before ``django_grpc_framework`` in
   ``INSTALLED_APPS``, so its ``grpcrunserver`` wins) and refuses to start on broken handoff contracts, as every
   other process does. It serves through ``tpfgo_site.grpc_server`` (health, reflection, JSON logs, a taken port
   is an error, a graceful stop) instead of the framework's bare server and plain-text start line.
2. Its proto serializers pass ``including_default_value_fields``, removed in protobuf 26:
   ``ProtoSerializer``/``ModelProtoSerializer`` use ``always_print_fields_with_no_presence``.
3. A failed ``is_valid(raise_exception=True)`` surfaces as UNKNOWN: here it aborts with INVALID_ARGUMENT and the
   field violations, through the status table.
4. Its test ``FakeServer`` lacks ``add_registered_method_handlers`` (called by generated code since grpcio 1.65):
   ``patch_fake_server`` adds a no-op (tests call it from a conftest).
"""

from __future__ import annotations

import re
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import CommandError
from django_grpc_framework import proto_serializers
from django_grpc_framework.management.commands import grpcrunserver
from google.protobuf import json_format
from google.protobuf.message import Message

from pipelines.contracts.checks import refuse_to_start_if_broken
from pipelines.store.schema import SchemaBehind, refuse_if_behind
from pipelines.transport.wire_errors import WireError, flatten, grpc_status

MAX_PORT = 65535
MAX_WORKERS = 1000  # threads


class RunserverCommand(grpcrunserver.Command):
    requires_system_checks: list[str] = []

    def run(self, **options: object) -> None:
        # grpcio reads a port out of range modulo 65536 (":99999" listened on 34463) and refuses 0 workers with a
        # ValueError: both are the operator's typo, said as such before anything starts.
        port = self.address.rpartition(":")[2]
        if re.fullmatch(r"-?\d+", port) and not 0 <= int(port) <= MAX_PORT:
            raise CommandError(f"address {self.address}: the port is from 0 to {MAX_PORT}")
        if not 1 <= self.max_workers <= MAX_WORKERS:
            raise CommandError(f"--max-workers must be from 1 to {MAX_WORKERS}")
        if options.get("development_mode"):
            super().run(**options)
        else:
            self._serve()

    def _serve(self) -> None:
        # The site's server (its services and interceptors) loads only when this command serves.
        from django.conf import settings

        from tpfgo_site.grpc_server import MetricsUnavailable, PortUnavailable, serve

        refuse_to_start_if_broken("the gRPC server")
        try:
            refuse_if_behind("the gRPC server")
        except SchemaBehind as exc:
            raise CommandError(str(exc)) from None
        try:
            serve(self.address, self.max_workers, settings.TPFGO_GRPC_METRICS_BIND)
        except PortUnavailable as exc:
            raise CommandError(f"{exc} (set GRPC_PORT to a free port)") from exc
        except MetricsUnavailable as exc:  # bin/node grpc picks 127.0.0.1:$GRPC_METRICS_PORT when none is given
            raise CommandError(
                f"{exc} (set TPFGO_GRPC_METRICS_BIND, or GRPC_METRICS_PORT, to a free address)"
            ) from None
        except ImproperlyConfigured as exc:  # TLS files (rpc.build_server)
            raise CommandError(str(exc)) from None


class _ValidOrAbort:
    """``message_to_data`` for protobuf >= 26, and ``is_valid`` that aborts with INVALID_ARGUMENT."""

    def message_to_data(self, message: Message) -> dict[str, Any]:
        data: dict[str, Any] = json_format.MessageToDict(
            message, always_print_fields_with_no_presence=True, preserving_proto_field_name=True
        )
        return data

    def is_valid(self, *, raise_exception: bool = False) -> bool:
        valid: bool = super().is_valid(raise_exception=False)  # type: ignore[misc]
        if not valid and raise_exception:
            context = self.context.get("grpc_context")  # type: ignore[attr-defined]
            error = WireError("INVALID_ARGUMENT", "the request is invalid", flatten(self.errors))  # type: ignore[attr-defined]
            if context is not None:
                context.abort_with_status(grpc_status(error))
            raise error
        return valid


class ProtoSerializer(_ValidOrAbort, proto_serializers.ProtoSerializer):
    pass


class ModelProtoSerializer(_ValidOrAbort, proto_serializers.ModelProtoSerializer):
    pass


def patch_fake_server() -> None:
    from django_grpc_framework import test

    if not hasattr(test.FakeServer, "add_registered_method_handlers"):
        test.FakeServer.add_registered_method_handlers = lambda self, service_name, method_handlers: None
