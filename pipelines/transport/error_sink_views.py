"""``POST /api/v1/error-sink/entries``: this instance as the central error sink of others (``RemoteSink``).

Token first, then its permission (the project's DRF defaults: the principal must hold ``errors:write``), then the
body; idempotent by entry id: 201 when stored, 200 when that id was already stored (the body is not compared).
Refusals are the API's JSON envelope (the project's DRF exception handler renders ``ServiceError``).
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from pipelines.failures import sinks
from pipelines.transport import input_limits, sink_wire
from pipelines.transport.input_limits import BoundedJSONParser, check_body_size
from pipelines.transport.request_metrics import http_transport
from pipelines.transport.wire_errors import WireError
from pipelines.transport.wire_schema import NO_NUL, NOT_BLANK_NO_NUL, StrictSerializer


class _SinkText(serializers.CharField):
    schema_pattern = NOT_BLANK_NO_NUL


class _OptionalSinkText(serializers.CharField):
    schema_pattern = NO_NUL


class _BranchText(serializers.CharField):
    schema_pattern = sink_wire.BRANCH_PATTERN


class ErrorSinkEntrySerializer(StrictSerializer):
    """The body ``sink_wire.parse`` accepts (it validates, the same way for the gRPC message), field for field."""

    id = serializers.UUIDField()
    pipeline = _SinkText()
    step = _SinkText()
    item_type = _SinkText()
    item_id = serializers.UUIDField()
    trace_id = serializers.UUIDField()
    error_class = _SinkText()
    error_code = _SinkText()
    retryable = serializers.BooleanField()
    message = _SinkText()
    traceback = _OptionalSinkText(required=False, allow_blank=True, allow_null=True)
    payload = serializers.JSONField(required=False, allow_null=True)
    attempt = serializers.IntegerField(min_value=1, max_value=sink_wire.MAX_ATTEMPT)
    created_at = serializers.DateTimeField()
    # DRF's metaclass takes declared fields off the class, so this does not shadow ``Field.source``.
    source = _OptionalSinkText(required=False, allow_blank=True, allow_null=True)  # type: ignore[assignment]
    # The lineage branch the attempt ran on: absent, empty or "main" for the main branch, else a fork's id.
    branch = _BranchText(required=False, allow_blank=True, allow_null=True, max_length=36)


ENTRY = ErrorSinkEntrySerializer
RECORDED = inline_serializer(
    "ErrorSinkRecorded", {"id": serializers.UUIDField(), "created": serializers.BooleanField()}
)


# What a JSON-only route answers a client that asks for another format, as its OpenAPI responses list it
# (docs/api.md): protobuf-over-HTTP is UNIMPLEMENTED, any other format not acceptable.
FORMAT_REFUSALS = {
    406: OpenApiResponse(description="INVALID_ARGUMENT: no acceptable response format (JSON only)"),
    501: OpenApiResponse(description="UNIMPLEMENTED: protobuf-over-HTTP (application/x-protobuf); JSON only"),
}


class TokenFirstView(APIView):
    """An engine route: JSON in and out within the API's limits (``pipelines.transport.input_limits``), the
    token checked before anything else (a missing or wrong token is 401 whatever else is wrong), then the call
    shape: a request that sends or asks for protobuf is UNIMPLEMENTED, as on every JSON-only route."""

    parser_classes = [BoundedJSONParser]
    renderer_classes = [JSONRenderer]

    def initial(self, request: Request, *args: object, **kwargs: object) -> None:
        self.perform_authentication(request)
        self.check_permissions(request)
        if http_transport(request) == "protobuf":
            raise WireError(
                "UNIMPLEMENTED",
                f"protobuf-over-HTTP is not available for {request.method} {request.path}: this route speaks JSON "
                "only; send and accept application/json",
            )
        check_body_size(request)
        super().initial(request, *args, **kwargs)


class ErrorSinkEntriesView(TokenFirstView):
    """Record one error-sink entry forwarded by another instance."""

    @extend_schema(
        operation_id="recordErrorSinkEntry",
        tags=["error sink"],
        summary="Record an error-sink entry (idempotent by entry id)",
        request=ENTRY,
        responses={
            201: OpenApiResponse(RECORDED, description="stored"),
            200: OpenApiResponse(RECORDED, description="that entry id was already stored; nothing changed"),
            400: OpenApiResponse(description="INVALID_ARGUMENT: the entry is invalid (nothing is stored)"),
            401: OpenApiResponse(description="UNAUTHENTICATED: missing or invalid token"),
            403: OpenApiResponse(description="PERMISSION_DENIED: the token lacks a permission"),
            **input_limits.BODY_REFUSALS,
            500: OpenApiResponse(description="INTERNAL (never a traceback)"),
            **FORMAT_REFUSALS,
        },
    )
    def post(self, request: Request) -> Response:
        entry = sink_wire.parse(request.data)
        created = sinks.store_forwarded(entry)
        return Response({"id": str(entry.id), "created": created}, status=201 if created else 200)
