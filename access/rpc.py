"""gRPC's side of access: the decision of ``access.decisions`` for a method and its request message.

``pipelines.transport.rpc.call_boundary`` calls ``authorize`` (the ``TPFGO_RPC_POLICY`` setting) right after the token,
before the message is checked or anything is read from a stream.
"""

from __future__ import annotations

from google.protobuf.message import Message

from access.decisions import decide, principal_of
from access.scopes import grpc_rule


def authorize(user: object, route: str, request: object) -> None:
    rule = grpc_rule(route)
    principal = principal_of(user)
    value, known = None, isinstance(request, Message)
    if known and rule.field:
        value = getattr(request, rule.field, None)
    decide(principal, rule, value, known=known)
