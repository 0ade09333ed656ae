"""``tpfgo.ops.v1.ErrorSinkService``: the gRPC twin of ``POST /api/v1/error-sink/entries``.

The boundary (token first, malformed bytes, errors as ``google.rpc.Status``, metrics) is
``pipelines.transport.rpc.unary``; the entry rules are ``pipelines.transport.sink_wire``'s, the same as the REST
route's.
"""

from __future__ import annotations

from typing import Any

import grpc
from django_grpc_framework.services import Service

from pipelines.failures import sinks
from pipelines.protos import error_sink_pb2
from pipelines.transport import sink_wire
from pipelines.transport.rpc import unary

SERVICE = error_sink_pb2.DESCRIPTOR.services_by_name["ErrorSinkService"]
ROUTE = f"/{SERVICE.full_name}/"


class ErrorSinkService(Service):
    @unary(ROUTE + "Record")
    def Record(self, request: error_sink_pb2.ErrorSinkEntry, context: grpc.ServicerContext) -> Any:
        entry = sink_wire.from_message(request)
        created = sinks.store_forwarded(entry)
        return error_sink_pb2.RecordResponse(id=str(entry.id), created=created)
