"""The base of every ``/api/v1/`` view: the token first, then the call shape, then the request itself.

DRF negotiates content before it authenticates; here the token is checked first, so a missing or wrong token
is 401 whatever else is wrong with the request. A protobuf request to a route without gRPC messages is refused
with UNIMPLEMENTED, and a body over ``TPFGO_API_MAX_BODY_BYTES`` with 413, before the body is read.
"""

from __future__ import annotations

from typing import ClassVar

from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.views import APIView

from checkout.api.protobuf import ContentNegotiation, ProtobufParser, ProtobufRenderer, ProtoSpec, speaks_protobuf
from pipelines import BoundedJSONParser, WireError, check_body_size


class ApiView(APIView):
    """JSON only; a subclass that sets ``protobuf`` also speaks protobuf-over-HTTP for those methods."""

    protobuf: ClassVar[dict[str, ProtoSpec]] = {}
    # False for a streamed body, which is bounded line by line instead.
    bounded_body: ClassVar[bool] = True
    parser_classes = [BoundedJSONParser]
    renderer_classes = [JSONRenderer]
    content_negotiation_class = ContentNegotiation

    def initial(self, request: Request, *args: object, **kwargs: object) -> None:
        self.perform_authentication(request)
        self.check_permissions(request)
        if speaks_protobuf(request) and request.method not in self.protobuf:
            raise WireError(
                "UNIMPLEMENTED",
                f"protobuf-over-HTTP is not available for {request.method} {request.path}: this route has no gRPC "
                "message; send and accept application/json",
            )
        if self.bounded_body:
            check_body_size(request)
        super().initial(request, *args, **kwargs)


class ProtobufApiView(ApiView):
    """A route whose methods listed in ``protobuf`` take and answer ``tpfgo.checkout.v1`` messages too."""

    parser_classes = [BoundedJSONParser, ProtobufParser]
    renderer_classes = [JSONRenderer, ProtobufRenderer]
