"""Server reflection (grpcio-reflection) behind the project's gRPC boundary, served only with
``TPFGO_GRPC_REFLECTION`` (off by default: docs/api.md, "gRPC").

Reflection hands whoever asks the full schema of every service, the ops ones (error sink, subscriptions) included,
so it asks what any of their methods asks: a token first, then the access policy, under which a method with no scope
of its own (this one) is for ops principals only (``access.scopes``). Its calls are counted and logged like every
other method's (``pipelines.streaming``); bytes that are not a request message are ``INVALID_ARGUMENT``, a message
over the body limit ``RESOURCE_EXHAUSTED``, as on every service.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import grpc
from grpc_reflection.v1alpha import reflection, reflection_pb2

from pipelines import Detail, Malformed, Oversized, WireError, input_limits, stream_handler, streaming

SERVICE = reflection_pb2.DESCRIPTOR.services_by_name["ServerReflection"]
ROUTE = f"/{SERVICE.full_name}/ServerReflectionInfo"


def parsed(requests: Iterable[Any]) -> Iterator[reflection_pb2.ServerReflectionRequest]:
    """The stream's requests, until one did not parse (``pipelines.Malformed``): that one ends the call."""
    for request in requests:
        if isinstance(request, Oversized):
            raise input_limits.body_too_large(request.size)
        if isinstance(request, Malformed):
            detail = [Detail("body", "malformed protobuf")]
            raise WireError("INVALID_ARGUMENT", f"the request is not a valid message for {ROUTE}", detail)
        yield request


class Reflection(reflection.ReflectionServicer):  # type: ignore[misc]  # grpcio-reflection ships no types
    @streaming(ROUTE)
    def ServerReflectionInfo(
        self, requests: Any, context: grpc.ServicerContext
    ) -> Iterator[reflection_pb2.ServerReflectionResponse]:
        yield from super().ServerReflectionInfo(parsed(requests), context)


def enable(service_names: list[str], server: grpc.Server) -> None:
    """Serve reflection on ``server`` for ``service_names`` (and itself)."""
    servicer = Reflection([*service_names, SERVICE.full_name])
    server.add_generic_rpc_handlers((stream_handler(SERVICE, servicer),))
