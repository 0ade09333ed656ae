"""``tpfgo.search.v1.SearchService``: parse the message, call one ``search.services`` function, render.

The boundary (token first, malformed bytes, errors as ``google.rpc.Status``, metrics) is ``pipelines.unary``, the
same as every gRPC service here. A replay of ``Search`` is signalled by the trailing metadata
``idempotent-replayed: true``.
"""

from __future__ import annotations

from typing import Any

import grpc
from django_grpc_framework.services import Service
from google.protobuf import json_format

from pipelines import metadata_value, unary
from search import services
from search.protos import search_pb2

SERVICE = search_pb2.DESCRIPTOR.services_by_name["SearchService"]
ROUTE = f"/{SERVICE.full_name}/"


def _answer(view: dict[str, Any]) -> search_pb2.SearchAnswer:
    answer = search_pb2.SearchAnswer()
    json_format.ParseDict(view, answer)
    return answer


class SearchService(Service):
    @unary(ROUTE + "Search")
    def Search(self, request: search_pb2.SearchRequest, context: grpc.ServicerContext) -> Any:
        data = {"text": request.text, "tokens": list(request.tokens)}
        answered = services.search(data, metadata_value(context, "idempotency-key"))
        if not answered.created:
            context.set_trailing_metadata((("idempotent-replayed", "true"),))
        return _answer(answered.view)

    @unary(ROUTE + "GetAnswer")
    def GetAnswer(self, request: search_pb2.GetAnswerRequest, context: grpc.ServicerContext) -> Any:
        return _answer(services.get_answer(request.query_id))
