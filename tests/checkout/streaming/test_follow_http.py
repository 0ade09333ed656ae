"""HTTP follow (``POST /api/v1/subscriptions/stream``): a client that left is noticed at the next poll, not at the
next failed write a heartbeat later, so its admission slot is free for its reconnect at once (as a cancelled gRPC
``Subscribe`` frees its slot)."""

import json
import socket
import ssl
import time

import pytest
from django.db.models import Max
from django.test import Client, RequestFactory, override_settings

from checkout.api.ingest_views import idle_limit
from pipelines.models import CheckpointLog
from pipelines.transport import subscription_views
from pipelines.transport.http_streams import client_present, server_socket

pytestmark = pytest.mark.django_db(transaction=True)
PUBLICATION = "tpfgo.checkout.order-ready.v1"


def subscribe(token: str, **environ: object):
    return Client().post(
        "/api/v1/subscriptions/stream",
        {"publication": PUBLICATION, "start": "now"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Token {token}",
        **environ,
    )


def test_client_present_is_false_only_once_the_peer_closed():
    server_side, client_side = socket.socketpair()
    try:
        present = client_present({"gunicorn.socket": server_side})
        assert present()
        client_side.sendall(b"GET /next HTTP/1.1\r\n")  # a pipelined request is no departure
        assert present()
        assert server_side.recv(100)
        client_side.close()
        assert not present()
    finally:
        server_side.close()
    assert client_present({})()  # no socket to ask (a test client, another server): present


def test_the_ingest_idle_limit_and_the_follow_s_presence_ask_the_same_plain_socket():
    server_side, client_side = socket.socketpair()
    try:
        assert server_socket({"gunicorn.socket": server_side}) is server_side
        assert server_socket({}) is None and server_socket({"gunicorn.socket": object()}) is None
        wrapped = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).wrap_socket(socket.socket(), do_handshake_on_connect=False)
        with wrapped:
            assert server_socket({"gunicorn.socket": wrapped}) is None  # no timing under the encryption
        with override_settings(TPFGO_INGEST_IDLE_SECONDS=7):
            idle_limit(RequestFactory().post("/api/v1/orders/ingest", **{"gunicorn.socket": server_side}))
        assert server_side.gettimeout() == 7
    finally:
        server_side.close()
        client_side.close()


def test_a_follow_whose_client_left_ends_at_the_next_poll_and_frees_its_slot(token, settings):
    settings.TPFGO_SUBSCRIBERS_PER_PROCESS = 1
    settings.TPFGO_SUBSCRIPTION_HEARTBEAT_SECONDS = 2
    settings.TPFGO_SUBSCRIPTION_POLL_SECONDS = 0.05
    server_side, client_side = socket.socketpair()
    try:
        response = subscribe(token, **{"gunicorn.socket": server_side})
        assert response.status_code == 200
        client_side.close()  # the client leaves while the follow waits for items
        started = time.monotonic()
        lines = []
        for chunk in response.streaming_content:  # before the fix: a heartbeat after 2 s, and on for ever
            lines.append(chunk)
            break
        assert lines == [] and time.monotonic() - started < 1.5
        response.close()
        again = subscribe(token)  # the reconnect gets the one slot
        assert again.status_code == 200, again.content
        again.close()
    finally:
        server_side.close()


def test_a_follow_from_now_sends_a_heartbeat_at_once_so_the_client_knows_it_was_admitted(token, settings, monkeypatch):
    settings.TPFGO_SUBSCRIPTION_HEARTBEAT_SECONDS = 3600
    settings.TPFGO_SUBSCRIPTION_POLL_SECONDS = 0.05

    def present_for_one_poll(environ):  # the client stays for the follow's first poll, then leaves
        polls = iter([True])
        return lambda: next(polls, False)

    monkeypatch.setattr(subscription_views, "client_present", present_for_one_poll)
    head = CheckpointLog.objects.aggregate(head=Max("seq"))["head"] or 0
    response = subscribe(token)
    assert response.status_code == 200
    lines = [json.loads(chunk) for chunk in response.streaming_content]  # before: none (the first came an hour later)
    response.close()
    assert lines == [{"heartbeat": True, "position": head}]
