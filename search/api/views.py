"""``/api/v1/search`` routes: parse the request, call one ``search.services`` function, render.

JSON only, on the engine's route base (``pipelines.TokenFirstView``: the token first, then the scope, then the call
shape (protobuf-over-HTTP is UNIMPLEMENTED), then the body within the API's limits); errors are the API's JSON
envelope (the project's DRF exception handler renders every ``ServiceError``).
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from pipelines import BODY_REFUSALS, FORMAT_REFUSALS, TokenFirstView
from search import commands, services
from search.api.serializers import SearchAnswerSerializer

ANSWER = OpenApiResponse(SearchAnswerSerializer, description="the query's answer")
KEY = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    required=True,
    pattern=commands.KEY_PATTERN.pattern,
    description="1-128 characters of A-Za-z0-9._:-; a replay of the same key and request answers 200",
)
REPLAYED = OpenApiParameter(
    "Idempotent-Replayed", str, OpenApiParameter.HEADER, response=[200], enum=["true"], description="set on a replay"
)
ERRORS = {
    400: OpenApiResponse(description="INVALID_ARGUMENT: the request is invalid (nothing is stored)"),
    401: OpenApiResponse(description="UNAUTHENTICATED: missing or invalid token"),
    403: OpenApiResponse(description="PERMISSION_DENIED: the token lacks the search:query scope"),
    500: OpenApiResponse(description="INTERNAL (never a traceback)"),
    503: OpenApiResponse(description="UNAVAILABLE: retry with the same Idempotency-Key"),
    **FORMAT_REFUSALS,
}


class SearchView(TokenFirstView):
    """Search: 201 once the query is stored (with its answer); the same key and request 200 with
    `Idempotent-Replayed: true`; the same key with another request 409."""

    @extend_schema(
        operation_id="search",
        tags=["search"],
        summary="Search (idempotent by Idempotency-Key)",
        request=commands.SearchRequestSerializer,
        parameters=[KEY, REPLAYED],
        responses={
            201: ANSWER,
            200: OpenApiResponse(SearchAnswerSerializer, description="a replay of the same key and request"),
            409: OpenApiResponse(description="ALREADY_EXISTS: the key was used with another request"),
            **BODY_REFUSALS,
            429: OpenApiResponse(description="RESOURCE_EXHAUSTED: the backlog bound is reached; nothing is stored"),
            **ERRORS,
        },
    )
    def post(self, request: Request) -> Response:
        answered = services.search(request.data, request.headers.get("Idempotency-Key"))
        headers = {"Location": f"/api/v1/search/{answered.view['queryId']}"}
        if not answered.created:
            headers["Idempotent-Replayed"] = "true"
        return Response(answered.view, status=201 if answered.created else 200, headers=headers)


class AnswerView(TokenFirstView):
    """A query's answer: its ranked results, or why there are none yet."""

    @extend_schema(
        operation_id="getSearchAnswer",
        tags=["search"],
        parameters=[OpenApiParameter("query_id", str, OpenApiParameter.PATH, description="the query id")],
        responses={200: ANSWER, 404: OpenApiResponse(description="NOT_FOUND: no such query"), **ERRORS},
    )
    def get(self, request: Request, query_id: str) -> Response:
        return Response(services.get_answer(query_id))
