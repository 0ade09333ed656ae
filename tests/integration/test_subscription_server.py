"""Remote subscription against a real gRPC server process on a port: a slow client over 10,000 checkpoints keeps
the server's memory flat, a late commit is delivered, a contract mismatch and one subscriber too many are refused,
and a subscriber name the server's follow holds is refused to another process until that follow ends."""

from __future__ import annotations

import itertools
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from django.conf import settings

from access.tokens import create_token
from pipelines.contracts.lock import entry_for
from pipelines.engine.batch import BatchEngine
from pipelines.models import CheckpointLog
from pipelines.protos import subscriptions_pb2, subscriptions_pb2_grpc
from pipelines.transport import subscriptions
from pipelines.transport.subscriber_leases import SubscriberFollowed
from tests.conftest import all_insert_only_counts
from tests.integration.conftest import process_env, wait_for
from tests.lane import composition as lane
from tests.pipelines.test_subscriptions import hold_open, probe_entry

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
PUBLISHED = "lane.published.v1"
ITEMS = 10_000


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


class Server:
    def __init__(self, log: Path, **env: str) -> None:
        self.port = free_port()
        self.log = log
        environment = process_env(TPFGO_TEST_COMPOSITION="tests.lane.composition.COMPOSITION", **env)
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "manage.py", "grpcrunserver", f"127.0.0.1:{self.port}"],
                cwd=settings.BASE_DIR,
                env=environment,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.channel = grpc.insecure_channel(f"127.0.0.1:{self.port}")
        grpc.channel_ready_future(self.channel).result(timeout=30)
        self.stub = subscriptions_pb2_grpc.SubscriptionServiceStub(self.channel)

    def stop(self) -> None:
        self.channel.close()
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=15)


@pytest.fixture
def auth(db: None) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Token {create_token(kind='subscriber', name='subscriber-client').key}"),)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    started = Server(
        tmp_path / "grpc.log",
        TPFGO_SUBSCRIBERS_PER_PROCESS="1",
        TPFGO_OBSERVER_GAP_TIMEOUT="0.3",
        TPFGO_SUBSCRIPTION_HEARTBEAT_SECONDS="0.5",
    )
    yield started
    started.stop()  # before pytest-django flushes the database


def seed(count: int) -> None:
    engine = BatchEngine(lane.COMPOSITION)
    for first in range(0, count, 1000):
        commands = [({"text": f"doc {n}"}, f"sub-doc-{n}") for n in range(first, min(count, first + 1000))]
        engine.start_many("ingest", commands)


def test_a_slow_client_over_10000_checkpoints_keeps_the_server_memory_flat(server: Server, auth) -> None:
    seed(ITEMS)
    expected = list(CheckpointLog.objects.filter(publication=PUBLISHED).order_by("seq").values_list("seq", flat=True))
    assert len(expected) == ITEMS
    assert _admitted(server, auth)  # a warm-up subscription: the server has loaded what a subscription needs
    baseline = rss_kib(server.process.pid)
    stream, first = subscribe_when_free(server, auth, subscriptions_pb2.SubscribeRequest(publication=PUBLISHED))
    received: list[int] = []
    samples: list[int] = []
    for message in itertools.chain([first], stream):
        if message.heartbeat:
            continue
        received.append(message.seq)
        if len(received) == 200:
            time.sleep(2)  # the client stops reading: the server must stop too, not read ahead
        if len(received) % 500 == 0:
            samples.append(rss_kib(server.process.pid))
            time.sleep(0.05)
        if len(received) == ITEMS:
            break
    stream.cancel()
    assert received == expected
    growth_mib = (max(samples) - baseline) / 1024
    print(f"server RSS: {baseline / 1024:.1f} MiB before, at most {max(samples) / 1024:.1f} MiB over {ITEMS} items")
    assert growth_mib < 12, f"the server's RSS grew by {growth_mib:.1f} MiB while a slow client read {ITEMS} items"


def test_a_checkpoint_committed_late_is_delivered_not_skipped(server: Server, auth) -> None:
    seed(2)
    start = CheckpointLog.objects.order_by("-seq")[0].seq
    stream = server.stub.Subscribe(
        subscriptions_pb2.SubscribeRequest(publication=PUBLISHED, start=str(start)), metadata=auth
    )
    seqs: list[int] = []
    release = threading.Event()
    holder = hold_open(seqs, release)  # holds a lower log seq open in a long transaction
    after = probe_entry()
    received: list[subscriptions_pb2.SubscriptionItem] = []
    for message in stream:
        if not message.heartbeat:
            received.append(message)
            if len(received) == 1:
                release.set()  # the long transaction commits now, after a later seq was already sent
                holder.join(10)
            if len(received) == 2:
                break
    stream.cancel()
    assert [m.seq for m in received] == [after.seq, seqs[0]]
    assert received[0].position == seqs[0] - 1  # acknowledging it would resume below the late row
    assert received[1].position == after.seq


def test_a_contract_mismatch_and_one_subscriber_too_many_are_refused(server: Server, auth) -> None:
    entry = entry_for(lane.PUBLISHED)
    mismatch = subscriptions_pb2.ExpectedContract(contract=entry["contract"], version=entry["version"])
    for spec in entry["fields"]:
        mismatch.fields.add(number=spec["number"], name=spec["name"], type="int", required=spec["required"])
    with pytest.raises(grpc.RpcError) as refused:
        next(
            server.stub.Subscribe(
                subscriptions_pb2.SubscribeRequest(publication=PUBLISHED, expect=mismatch), metadata=auth
            )
        )
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert f"field 'docId' type changed (expected=int actual={entry['fields'][0]['type']})" in refused.value.details()
    seed(1)
    first = server.stub.Subscribe(subscriptions_pb2.SubscribeRequest(publication=PUBLISHED), metadata=auth)
    assert not next(first).heartbeat  # the one slot of this server is taken
    with pytest.raises(grpc.RpcError) as full:
        next(server.stub.Subscribe(subscriptions_pb2.SubscribeRequest(publication=PUBLISHED), metadata=auth))
    assert full.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    first.cancel()
    wait_for(lambda: _admitted(server, auth), 15, what="the slot to free once the first subscriber left")


def subscribe_when_free(server: Server, auth, request: subscriptions_pb2.SubscribeRequest) -> tuple[Any, Any]:
    """A subscription and its first message, once the server's one slot is free (a cancelled one frees it)."""
    deadline = time.monotonic() + 15
    while True:
        call = server.stub.Subscribe(request, metadata=auth)
        try:
            return call, next(call)
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.RESOURCE_EXHAUSTED or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _admitted(server: Server, auth) -> bool:
    """A subscribe (from now: nothing to read) is admitted: its first message, a heartbeat, arrives."""
    call = server.stub.Subscribe(subscriptions_pb2.SubscribeRequest(publication=PUBLISHED, start="now"), metadata=auth)
    try:
        return next(call).heartbeat
    except grpc.RpcError:
        return False
    finally:
        call.cancel()


def test_acknowledge_over_grpc_keeps_the_position(server: Server, auth) -> None:
    seed(3)
    head = CheckpointLog.objects.order_by("-seq")[0].seq
    answer = server.stub.Acknowledge(
        subscriptions_pb2.AcknowledgeRequest(publication=PUBLISHED, subscriber="warehouse", position=head),
        metadata=auth,
    )
    assert answer.position == head
    resumed = server.stub.Subscribe(
        subscriptions_pb2.SubscribeRequest(publication=PUBLISHED, subscriber="warehouse", start="acked"), metadata=auth
    )
    first = next(resumed)
    assert first.heartbeat and first.position == head  # nothing after the acknowledged head: a heartbeat
    resumed.cancel()


def test_a_subscriber_name_followed_through_the_server_is_refused_to_another_process_until_that_follow_ends(
    server: Server, auth, lane_composition
) -> None:
    request = subscriptions_pb2.SubscribeRequest(publication=PUBLISHED, subscriber="warehouse", start="now")
    first = server.stub.Subscribe(request, metadata=auth)
    assert next(first).heartbeat  # admitted: the server process holds the name's lease
    before = all_insert_only_counts()
    with pytest.raises(SubscriberFollowed):  # this test's process (another node's, as well) is refused the name
        subscriptions.open_follow(PUBLISHED, subscriber="warehouse")  # before: admitted, two follows acking as one
    assert all_insert_only_counts() == before
    first.cancel()  # the name is free at the cancelled call's next poll

    def admitted_here() -> bool:
        try:
            subscriptions.open_follow(PUBLISHED, subscriber="warehouse").release()
        except SubscriberFollowed:
            return False
        return True

    wait_for(admitted_here, 15, what="this process to be admitted the name once the server's follow ended")
