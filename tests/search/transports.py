"""The search lane's ways in, with the same calls, each answering the normalized ``Result`` of the checkout
transports (tests/checkout/api/transports.py): REST on a real HTTP server, gRPC on a real gRPC server, and the
FUNCTION handler (the same views as REST, called with API-gateway events)."""

from __future__ import annotations

from typing import Any

import grpc
from google.protobuf import json_format

from search.protos import search_pb2, search_pb2_grpc
from tests.checkout.api.transports import BROKEN_PROTOBUF, DEFAULT, MALFORMED, Function, Http, Result, _grpc_error


class SearchRest(Http):
    name = "rest"

    def search(self, body: Any, key: str | None, token: Any = DEFAULT) -> Result:
        extra = {"Idempotency-Key": key} if key is not None else {}
        return self.send("POST", "/api/v1/search", body, token, **extra)

    def answer(self, query_id: str, token: Any = DEFAULT) -> Result:
        return self.send("GET", f"/api/v1/search/{query_id}", None, token)


class SearchFunction(Function):
    name = "function"
    search = SearchRest.search
    answer = SearchRest.answer


class SearchGrpc:
    name = "grpc"

    def __init__(self, target: str, token: str) -> None:
        self.channel = grpc.insecure_channel(target)
        self.stub = search_pb2_grpc.SearchServiceStub(self.channel)
        self.token = token

    def _metadata(self, token: Any, **extra: str) -> list[tuple[str, str]]:
        token = self.token if token is DEFAULT else token
        return list(extra.items()) + ([("authorization", f"Token {token}")] if token is not None else [])

    def _call(self, method: Any, request: Any, metadata: list[tuple[str, str]]) -> Result:
        try:
            response, call = method.with_call(request, metadata=metadata, timeout=30)
        except grpc.RpcError as error:
            return _grpc_error(error)
        trailing = dict(call.trailing_metadata() or ())
        data = json_format.MessageToDict(response, always_print_fields_with_no_presence=True)
        return Result("OK", data, replayed=trailing.get("idempotent-replayed") == "true")

    def search(self, body: Any, key: str | None, token: Any = DEFAULT) -> Result:
        metadata = self._metadata(token, **({"idempotency-key": key} if key is not None else {}))
        if body is MALFORMED:
            raw = self.channel.unary_unary("/tpfgo.search.v1.SearchService/Search")
            return self._call(raw, BROKEN_PROTOBUF, metadata)
        return self._call(self.stub.Search, json_format.ParseDict(body, search_pb2.SearchRequest()), metadata)

    def answer(self, query_id: str, token: Any = DEFAULT) -> Result:
        request = search_pb2.GetAnswerRequest(query_id=query_id)
        return self._call(self.stub.GetAnswer, request, self._metadata(token))
