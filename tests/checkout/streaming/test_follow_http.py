"""HTTP follow (``POST /api/v1/subscriptions/stream``): a client that left is noticed at the next poll, not at the
next failed write a heartbeat later, so its admission slot is free for its reconnect at once (as a cancelled gRPC
``Subscribe`` frees its slot)."""

import datetime
import json
import socket
import ssl
import time

import pytest
import time_machine
from django.db import connection
from django.db.models import Max
from django.test import Client, RequestFactory, override_settings
from django.utils import timezone

from access.tokens import revoke_token
from checkout import demo, services
from checkout.api.ingest_views import idle_limit
from pipelines.models import CheckpointLog, SubscriberLease
from pipelines.store.store import store
from pipelines.transport import subscription_views, subscriptions
from pipelines.transport.http_streams import client_present, server_socket
from tests.checkout.conftest import order_body
from tests.conftest import age_subscriber_leases, all_insert_only_counts

pytestmark = pytest.mark.django_db(transaction=True)
PUBLICATION = "tpfgo.checkout.order-ready.v1"


def subscribe(token: str, subscriber: str | None = None, **environ: object):
    body = {"publication": PUBLICATION, "start": "now"} | ({"subscriber": subscriber} if subscriber else {})
    return Client().post(
        "/api/v1/subscriptions/stream",
        body,
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
        response = subscribe(token, "warehouse", **{"gunicorn.socket": server_side})
        assert response.status_code == 200
        client_side.close()  # the client leaves while the follow waits for items
        started = time.monotonic()
        lines = []
        for chunk in response.streaming_content:  # before the fix: a heartbeat after 2 s, and on for ever
            lines.append(chunk)
            break
        assert lines == [] and time.monotonic() - started < 1.5
        assert SubscriberLease.objects.count() == 0  # its subscriber name is free too
        response.close()
        again = subscribe(token, "warehouse")  # the reconnect gets the one slot and the name
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


def test_a_second_follow_of_a_subscriber_name_is_409_while_the_first_streams(token, settings):
    settings.TPFGO_SUBSCRIBER_LEASE_SECONDS = 30
    first = subscribe(token, "warehouse")
    assert first.status_code == 200
    assert json.loads(next(iter(first.streaming_content)))["heartbeat"]  # admitted, and streaming
    before = all_insert_only_counts()
    second = subscribe(token, "warehouse")  # before: 200, two follows acknowledging as one subscriber
    assert second.status_code == 409 and 1 <= int(second["Retry-After"]) <= 30  # when the lease expires at the latest
    error = second.json()["error"]
    assert error["code"] == "ALREADY_EXISTS" and "followed by another live follow" in error["message"]
    assert error["details"] == [{"field": "subscriber", "issue": "SUBSCRIBER_FOLLOWED"}]
    assert all_insert_only_counts() == before and SubscriberLease.objects.count() == 1
    first.close()  # the first follow ends: the name is free at once
    assert SubscriberLease.objects.count() == 0
    third = subscribe(token, "warehouse")
    assert third.status_code == 200, third.content
    third.close()


def test_a_follow_whose_name_was_taken_over_ends_with_an_error_line(token, settings):
    settings.TPFGO_SUBSCRIBER_LEASE_SECONDS = 30
    settings.TPFGO_SUBSCRIPTION_POLL_SECONDS = 0.05
    stalled = subscribe(token, "warehouse")
    lines = iter(stalled.streaming_content)
    assert json.loads(next(lines))["heartbeat"]
    age_subscriber_leases(31)
    with time_machine.travel(timezone.now() + datetime.timedelta(seconds=31), tick=False):
        # It stalled past its lease (a client that did not read): a reconnect took the name over.
        reconnect = subscriptions.open_follow(PUBLICATION, subscriber="warehouse")
        rest = [json.loads(chunk) for chunk in lines]
    stalled.close()
    assert [line["error"]["code"] for line in rest] == ["ALREADY_EXISTS"]
    assert SubscriberLease.objects.get().holder == reconnect.lease.holder  # the new follow keeps its lease
    reconnect.release()


def test_a_follow_bounds_its_writes_by_the_unread_limit(token, settings):
    """A client that stops reading left gunicorn's thread blocked in its write for good (no timeout on the socket),
    holding the slot and the subscriber's name; the follow's socket now fails such a write after the limit."""
    settings.TPFGO_STREAM_UNREAD_SECONDS = 7
    server_side, client_side = socket.socketpair()
    try:
        response = subscribe(token, "unread", **{"gunicorn.socket": server_side})
        assert response.status_code == 200
        assert server_side.gettimeout() == 7
        response.close()
    finally:
        server_side.close()
        client_side.close()


def test_a_follow_whose_token_is_revoked_ends_with_an_unauthenticated_line_before_the_next_item(token, settings):
    settings.TPFGO_SUBSCRIPTION_POLL_SECONDS = 0.05
    demo.load()
    following = subscribe(token)
    lines = iter(following.streaming_content)
    assert json.loads(next(lines))["heartbeat"]  # admitted, and streaming
    assert revoke_token("stream-client") == 1
    services.place_order(order_body(), "after-revocation")  # an item the follow would send next
    sent = next(line for line in map(json.loads, lines) if not line.get("heartbeat"))
    assert sent["error"]["code"] == "UNAUTHENTICATED"  # before: the order's ReadyOrder, and on while it lasted
    assert list(lines) == []  # the follow ended
    following.close()


def test_a_position_from_before_a_restore_is_answered_400_with_its_own_detail_and_records_nothing(token):
    kept = store.log_seqs_issued(connection) + 1  # given out by the database the restore replaced
    before = all_insert_only_counts()
    response = Client().post(
        "/api/v1/subscriptions/stream",
        {"publication": PUBLICATION, "subscriber": "warehouse", "start": kept},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Token {token}",
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "INVALID_ARGUMENT" and error["details"] == [{"field": "start", "issue": "POSITION_AHEAD"}]
    assert "resume from 'acked' or 0" in error["message"]
    assert all_insert_only_counts() == before and SubscriberLease.objects.count() == 0
