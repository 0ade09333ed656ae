"""gRPC ``Subscribe``: its first message comes at once, and a subscriber name is followed by one live call at a time
(``ALREADY_EXISTS`` with ``RetryInfo`` for another), freed at the first call's next poll once it is cancelled."""

import time

import grpc
import pytest
from grpc_status import rpc_status

from access.tokens import revoke_token
from checkout import demo, services
from pipelines.models import SubscriberLease
from pipelines.protos import subscriptions_pb2, subscriptions_pb2_grpc
from pipelines.transport.wire_errors import describe
from tests.checkout.conftest import order_body
from tests.conftest import all_insert_only_counts

pytestmark = pytest.mark.django_db(transaction=True)
PUBLICATION = "tpfgo.checkout.order-ready.v1"


def test_a_second_subscribe_of_a_name_is_already_exists_until_the_first_call_is_cancelled(grpc_channel, auth, settings):
    settings.TPFGO_SUBSCRIBER_LEASE_SECONDS = 30
    settings.TPFGO_SUBSCRIPTION_POLL_SECONDS = 0.05
    stub = subscriptions_pb2_grpc.SubscriptionServiceStub(grpc_channel)
    request = subscriptions_pb2.SubscribeRequest(publication=PUBLICATION, subscriber="warehouse", start="now")
    first = stub.Subscribe(request, metadata=auth)
    assert next(first).heartbeat  # the first message comes at once: admitted
    before = all_insert_only_counts()
    with pytest.raises(grpc.RpcError) as refused:  # before: a second live follow of the same name
        next(stub.Subscribe(request, metadata=auth))
    assert refused.value.code() == grpc.StatusCode.ALREADY_EXISTS
    status = describe(rpc_status.from_call(refused.value))
    assert status["code"] == "ALREADY_EXISTS"
    assert status["details"] == [{"field": "subscriber", "issue": "SUBSCRIBER_FOLLOWED"}]
    assert all_insert_only_counts() == before
    first.cancel()
    assert released_soon()  # at the cancelled call's next poll
    again = stub.Subscribe(request, metadata=auth)
    assert next(again).heartbeat
    again.cancel()
    assert released_soon()  # the call ended in its own thread, before the server stops


def released_soon() -> bool:
    deadline = time.monotonic() + 10
    while SubscriberLease.objects.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return SubscriberLease.objects.count() == 0


def test_a_follow_whose_client_stops_reading_is_cancelled_after_the_unread_limit(
    demo_data, stream_server, auth, settings
):
    """Before, a subscriber that stopped reading held its server thread and its slot for good: grpcio's send waits
    for room in the client's HTTP/2 window with no timeout."""
    from checkout import services
    from pipelines.transport import subscriptions
    from tests.checkout.conftest import order_body

    settings.TPFGO_STREAM_UNREAD_SECONDS = 1
    settings.TPFGO_SUBSCRIPTION_POLL_SECONDS = 0.05
    for number in range(3):
        services.place_order(order_body(), f"unread-follow-{number}")
    # A one-byte window (no BDP probing to grow it): the second item waits for the client to read the first.
    options = [("grpc.http2.bdp_probe", 0), ("grpc.http2.lookahead_bytes", 1)]
    channel = grpc.insecure_channel(stream_server, options=options)
    stub = subscriptions_pb2_grpc.SubscriptionServiceStub(channel)
    request = subscriptions_pb2.SubscribeRequest(publication=PUBLICATION, subscriber="stalled", start="0")
    call = stub.Subscribe(request, metadata=auth)
    deadline = time.monotonic() + 10
    while subscriptions.gate().active == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert subscriptions.gate().active == 1
    deadline = time.monotonic() + 15
    while subscriptions.gate().active and time.monotonic() < deadline:
        time.sleep(0.05)
    assert subscriptions.gate().active == 0
    assert released_soon()  # the subscriber's name too
    with pytest.raises(grpc.RpcError) as ended:
        list(call)
    assert ended.value.code() == grpc.StatusCode.CANCELLED
    channel.close()


def test_a_subscribe_whose_token_is_revoked_ends_unauthenticated_before_the_next_item(grpc_channel, auth, settings):
    settings.TPFGO_SUBSCRIPTION_POLL_SECONDS = 0.05
    demo.load()
    stub = subscriptions_pb2_grpc.SubscriptionServiceStub(grpc_channel)
    call = stub.Subscribe(subscriptions_pb2.SubscribeRequest(publication=PUBLICATION, start="now"), metadata=auth)
    assert next(call).heartbeat  # admitted, and streaming
    assert revoke_token("stream-client") == 1
    services.place_order(order_body(), "after-revocation")  # an item the call would send next
    with pytest.raises(grpc.RpcError) as ended:
        sent = next(message for message in call if not message.heartbeat)
        call.cancel()
        raise AssertionError(f"sent {sent.checkpoint_type} to a revoked token")  # before the fix
    assert ended.value.code() == grpc.StatusCode.UNAUTHENTICATED
