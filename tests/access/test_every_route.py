"""Every route of the URLconf and every method of the gRPC services, enumerated (not listed by hand), is checked for
its authentication here: a new route or method fails these tests until it is given a scope (access/scopes.py) and
so answers 401 without a token and 403 to a token without its scope, or is named as open.

The permission matrix (tests/checkout/api/test_permissions.py) checks who may call what; this file checks that
nothing was left out of it: the API and FTGO routes, the ops console's pages and the gRPC methods.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from rest_framework.test import APIClient

from access.scopes import GRPC, HTTP
from access.tokens import create_token
from tests.conftest import all_insert_only_counts, sharing_in_memory_sqlite

pytestmark = pytest.mark.django_db(transaction=True)

# Open by design (docs/api.md, "Authentication"): the probes, the metrics, the API's own description, static files.
OPEN = {"healthz", "readyz", "metrics", "api-schema", "api-docs", "api-redoc", None}
METHODS = ("get", "post", "put", "patch", "delete")
SAMPLES = ("checkout", "1", "x")  # a value for a path parameter: the first its pattern takes


def walk(patterns: list[Any], prefix: str = "") -> Iterator[tuple[str, str | None, Any]]:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from walk(pattern.url_patterns, prefix + str(pattern.pattern))
        else:
            assert isinstance(pattern, URLPattern)
            yield prefix + str(pattern.pattern), pattern.name, pattern.callback


def concrete(route: str) -> str:
    """A path the route matches: each ``(?P<name>regex)`` or ``<conv:name>`` replaced by a sample it takes."""

    def sample(group: re.Match[str]) -> str:
        return next(value for value in SAMPLES if re.fullmatch(group.group(1), value))

    route = re.sub(r"\(\?P<\w+>([^()]*)\)", sample, route).replace("^", "").replace("$", "")
    route = re.sub(r"<uuid:\w+>", "00000000-0000-0000-0000-000000000007", route)
    return "/" + re.sub(r"<(?:\w+:)?\w+>", "1", route)


def api_routes() -> list[tuple[str, str, str]]:
    """(path, method, URL name) of every API and FTGO route, each method its view serves."""
    found = []
    for route, name, callback in walk(get_resolver().url_patterns):
        view = getattr(callback, "view_class", None) or getattr(callback, "cls", None)
        if route.startswith("ops/") or name in OPEN:
            continue
        assert view is not None, route  # a function view outside the console: give it a class and a scope
        # FTGO's routes also match with one trailing slash (ftgo/urls.py).
        paths = [concrete(route)] + ([concrete(route) + "/"] if route.startswith("ftgo/") else [])
        found += [(path, method.upper(), name) for path in paths for method in METHODS if hasattr(view, method)]
    return found


def test_every_api_and_ftgo_route_has_a_scope_refuses_no_token_and_a_token_without_its_scope():
    routes = api_routes()
    assert [(path, name) for path, _, name in routes if resolve(path).url_name != name] == []
    # Every route of docs/api.md's and docs/ftgo.md's tables, each method; FTGO's 13 also with a trailing slash.
    assert len(routes) == 35 + 13
    assert [(name, method) for _, method, name in routes if (name, method) not in HTTP] == []
    # Principals that hold one scope each: every route is outside one of them.
    subscriber = create_token(kind="subscriber", name="every-route-subscriber").key
    searcher = create_token(kind="search-client", name="every-route-searcher").key
    client = APIClient()
    before = all_insert_only_counts()
    answers = {}
    for path, method, name in routes:
        anonymous = client.generic(method, path, "{}", content_type="application/json")
        outsider = subscriber if HTTP[name, method].scope != "subscriptions:follow" else searcher
        denied = client.generic(
            method, path, "{}", content_type="application/json", HTTP_AUTHORIZATION=f"Token {outsider}"
        )
        answers[name, method] = (anonymous.status_code, anonymous.json()["error"]["code"], denied.status_code)
    assert answers == dict.fromkeys(answers, (401, "UNAUTHENTICATED", 403))
    assert all_insert_only_counts() == before


def test_every_ops_console_page_sends_an_anonymous_visitor_to_the_login():
    pages = [
        (concrete(route), name) for route, name, _ in walk(get_resolver().url_patterns) if route.startswith("ops/")
    ]
    assert [(path, name) for path, name in pages if resolve(path).url_name != name] == []
    assert len(pages) > 100  # the console's own screens and one set of pages per registered model
    client = APIClient()
    before = all_insert_only_counts()
    answers = {}
    for path, name in pages:
        response = client.post(path, {}) if name == "logout" else client.get(path)
        location = response.headers.get("Location", "")
        answers[name, path] = (
            "login" if response.status_code == 302 and location.startswith("/ops/login/") else (response.status_code)
        )
    # The login page itself, and the logout (Django's own, POST only), which logs out no one and redirects.
    assert {key: answer for key, answer in answers.items() if answer != "login"} == {
        ("login", "/ops/login/"): 200,
        ("logout", "/ops/logout/"): 302,
    }
    assert all_insert_only_counts() == before


def registered_methods() -> list[tuple[str, bool, bool]]:
    """(route, client streaming, server streaming) of every method of every service ``grpc_handlers`` serves."""
    from checkout.rpc.services import SERVICE
    from pipelines import ERROR_SINK_SERVICE, SUBSCRIPTION_SERVICE
    from search.rpc.services import SERVICE as SEARCH_SERVICE
    from tpfgo_site.grpc_handlers import service_names

    services = [SERVICE, ERROR_SINK_SERVICE, SUBSCRIPTION_SERVICE, SEARCH_SERVICE]
    assert [service.full_name for service in services] == service_names()
    return [
        (f"/{service.full_name}/{method.name}", method.client_streaming, method.server_streaming)
        for service in services
        for method in service.methods
    ]


def call(channel: grpc.Channel, route: str, streams: tuple[bool, bool], token: str | None) -> grpc.StatusCode:
    """An empty request (or stream of one) to ``route``, answered as raw bytes: its status code."""
    metadata = (("authorization", f"Token {token}"),) if token else ()
    kind = {(False, False): channel.unary_unary, (False, True): channel.unary_stream}.get(streams)
    kind = kind or {(True, False): channel.stream_unary, (True, True): channel.stream_stream}[streams]
    method = kind(route, request_serializer=None, response_deserializer=None)
    request: Any = iter([b""]) if streams[0] else b""
    try:
        answer = method(request, metadata=metadata, timeout=10)
        if streams[1]:
            list(answer)
    except grpc.RpcError as error:
        return error.code()
    return grpc.StatusCode.OK


def test_every_grpc_method_has_a_scope_refuses_no_token_and_a_token_without_its_scope():
    from pipelines import build_server
    from tpfgo_site.grpc_handlers import grpc_handlers

    methods = registered_methods()
    assert len(methods) == 12
    assert [route for route, _, _ in methods if route not in GRPC] == []
    subscriber = create_token(kind="subscriber", name="every-method-subscriber").key
    searcher = create_token(kind="search-client", name="every-method-searcher").key
    before = all_insert_only_counts()
    with sharing_in_memory_sqlite() as share:
        server, port = build_server("127.0.0.1:0", grpc_handlers, max_workers=4, initializer=share)
        server.start()
        try:
            with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
                answers = {}
                for route, *streams in methods:
                    outsider = subscriber if GRPC[route].scope != "subscriptions:follow" else searcher
                    shape = (streams[0], streams[1])
                    answers[route] = (call(channel, route, shape, None), call(channel, route, shape, outsider))
        finally:
            server.stop(grace=None).wait()
    expected = (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED)
    assert answers == dict.fromkeys(answers, expected)
    assert all_insert_only_counts() == before
