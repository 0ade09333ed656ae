"""Remote subscription's rules: one publication in log order, contracts checked at connect, positions that resume
without skipping a late row, acknowledgements kept, a bounded read per poll and a cap per process."""

import datetime
import threading
import uuid

import pytest
import time_machine
from django.db import connection, connections, transaction
from django.utils import timezone
from prometheus_client import REGISTRY
from structlog.testing import capture_logs

from pipelines.contracts.lock import entry_for
from pipelines.contracts.status import Detail, FailedPrecondition, InvalidArgument, NotFound
from pipelines.models import CheckpointLog, Subscriber, SubscriberAck, SubscriberLease
from pipelines.store import db_roles, traces
from pipelines.store.store import store
from pipelines.transport import subscriber_leases, subscription_follow, subscriptions
from pipelines.transport.subscriber_leases import SubscriberFollowed
from pipelines.transport.wire_errors import WireError
from tests.conftest import age_subscriber_leases, all_insert_only_counts
from tests.lane import composition as lane

pytestmark = pytest.mark.django_db(transaction=True)
PUBLISHED = "lane.published.v1"


@pytest.fixture
def lane_docs(lane_composition, lane_engine):
    def place(*texts: str) -> None:
        for text in texts:
            lane_engine.start("ingest", {"text": text}, f"doc-{uuid.uuid4()}")

    return place


def read_all(start: int = 0, **kwargs):
    found = subscriptions.publication(PUBLISHED)
    items = subscription_follow.follow(found, start, until_idle=True, **kwargs)
    return [item for item in items if isinstance(item, subscription_follow.Item)]


def purge_the_whole_log() -> None:
    """The retention purge on a quiet system: every entry aged past retention, the newest ones too."""
    with db_roles.purge_allowed("test: every order aged past retention on a quiet system"):
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM pipelines_checkpointlog")


def published_log():
    return list(CheckpointLog.objects.filter(publication=PUBLISHED).order_by("seq"))


def test_a_follow_sends_only_its_publication_in_log_order_with_the_contracts_fields(lane_docs):
    lane_docs("alpha beta", "gamma", " ", "delta")  # the blank one is refused: no DocumentPublished
    items = read_all()
    stored = published_log()
    assert len(stored) == 3
    assert [(i.seq, i.checkpoint_id, i.trace_id) for i in items] == [
        (row.seq, row.checkpoint_id, row.trace_id) for row in stored
    ]
    contract = lane.DocumentPublished.contract
    for item in items:
        row = lane.DocumentPublished.objects.get(pk=item.checkpoint_id)
        assert item.payload == contract.payload(row)
        assert item.checkpoint_type == "DocumentPublished" and item.publication == PUBLISHED
        assert item.position == item.seq  # no gap: the position is the item's own seq


def test_a_subscriber_that_acknowledged_resumes_after_it_and_gets_every_item_exactly_once(lane_docs):
    lane_docs(*[f"text {n}" for n in range(6)])
    first = read_all()[:4]
    assert subscriptions.acknowledge("warehouse", PUBLISHED, first[-1].position) == first[-1].position
    lane_docs("late one", "late two")
    opened = subscriptions.open_follow(PUBLISHED, subscriber="warehouse", start="acked")
    rest = read_all(opened.start)
    ids = [i.checkpoint_id for i in first + rest]
    assert len(ids) == len(set(ids)) == len(published_log()) == 8
    assert [i.seq for i in first + rest] == [row.seq for row in published_log()]
    subscriber = Subscriber.objects.get(name="warehouse", publication=PUBLISHED)
    assert subscriber.contract_version == 1
    assert list(SubscriberAck.objects.filter(subscriber=subscriber).values_list("position", flat=True)) == [
        first[-1].position
    ]


def test_now_starts_at_the_head_and_sends_only_what_comes_after(lane_docs):
    lane_docs("before")
    opened = subscriptions.open_follow(PUBLISHED, start="now")
    lane_docs("after")
    items = read_all(opened.start)
    assert [i.checkpoint_id for i in items] == [published_log()[-1].checkpoint_id]


def test_a_poll_reads_at_most_its_buffer_and_the_next_poll_waits_for_the_transport(lane_docs):
    lane_docs(*[f"doc {n}" for n in range(7)])
    head = CheckpointLog.objects.order_by("-seq")[0].seq
    oldest = CheckpointLog.objects.order_by("seq")[0].seq
    cursor = subscription_follow.Follow(subscriptions.publication(PUBLISHED), oldest - 1, buffer=4)
    reads = []
    while cursor.position < head:
        before = cursor.high
        items = cursor.poll()
        reads.append((cursor.high - before, len(items)))
    # 7 docs, 5 log rows each (received, 2 tokens, indexed, published): 4 log rows read per poll, never more.
    assert sum(rows for rows, _ in reads) == CheckpointLog.objects.count() == 35
    assert max(rows for rows, _ in reads) == 4
    assert sum(items for _, items in reads) == 7


def test_a_follow_reads_the_log_again_only_once_its_last_batch_was_taken(lane_docs, django_assert_max_num_queries):
    lane_docs(*[f"doc {n}" for n in range(3)])
    stream = subscription_follow.follow(subscriptions.publication(PUBLISHED), 0)
    with django_assert_max_num_queries(4):  # one read of the log (buffer 100 > 15 rows) and one per type
        first = next(stream)
    assert isinstance(first, subscription_follow.Item)
    with django_assert_max_num_queries(0):  # the rest of that batch comes from memory
        assert isinstance(next(stream), subscription_follow.Item) and isinstance(next(stream), subscription_follow.Item)
    stream.close()


def test_an_expected_contract_that_differs_is_refused_with_the_lock_diagnostics(lane_composition):
    found = subscriptions.publication(PUBLISHED)
    entry = entry_for(found)
    renamed = {**entry, "fields": [{**f, "name": "docKey"} if f["number"] == 1 else f for f in entry["fields"]]}
    with pytest.raises(FailedPrecondition) as refused:
        subscriptions.open_follow(PUBLISHED, expect=renamed)
    assert "field 'docKey' removed" not in refused.value.message
    assert "field #1 renamed (expected='docKey' actual='docId')" in refused.value.message
    retyped = {**entry, "fields": [{**f, "type": "int"} if f["number"] == 1 else f for f in entry["fields"]]}
    actual = entry["fields"][0]["type"]
    with pytest.raises(FailedPrecondition, match=f"field 'docId' type changed .expected=int actual={actual}"):
        subscriptions.open_follow(PUBLISHED, expect=retyped)
    older = {**entry, "version": 2}
    with pytest.raises(FailedPrecondition, match="contract version changed .expected=2 actual=1"):
        subscriptions.open_follow(PUBLISHED, expect=older)
    # A subscriber that knows fewer fields than the server sends is no mismatch: it ignores the new ones.
    fewer = {**entry, "fields": entry["fields"][:1]}
    assert subscriptions.open_follow(PUBLISHED, expect=fewer).publication is found
    with pytest.raises(InvalidArgument, match="malformed"):
        subscriptions.open_follow(PUBLISHED, expect={"contract": "DocumentPublished"})


def test_refusals_before_the_first_item_store_nothing(lane_docs):
    lane_docs("alpha")
    before = all_insert_only_counts()
    with pytest.raises(NotFound, match="did you mean lane.published.v1"):
        subscriptions.open_follow("lane.published.v2", subscriber="x")
    head = CheckpointLog.objects.order_by("-seq")[0].seq
    with pytest.raises(InvalidArgument, match="outside the log"):
        subscriptions.open_follow(PUBLISHED, subscriber="x", start=head + 1)
    for start in ("yesterday", True, False, 1.5, " 0", "\u0661", [1]):  # not a position: no coercion
        with pytest.raises(InvalidArgument, match="start must be"):
            subscriptions.open_follow(PUBLISHED, start=start)
    with pytest.raises(InvalidArgument, match="needs a subscriber"):
        subscriptions.open_follow(PUBLISHED, start="acked")
    with pytest.raises(InvalidArgument, match="1 to 200"):
        subscriptions.acknowledge("", PUBLISHED, 1)
    with pytest.raises(InvalidArgument, match="non-negative"):
        subscriptions.acknowledge("x", PUBLISHED, -1)
    with pytest.raises(InvalidArgument, match="past the log's head"):
        subscriptions.acknowledge("x", PUBLISHED, head + 1)
    assert all_insert_only_counts() == before


def test_a_position_older_than_the_log_keeps_is_refused_as_expired(lane_docs):
    lane_docs("alpha", "beta")
    oldest = CheckpointLog.objects.order_by("seq")[:3]
    doomed = [row.seq for row in oldest]
    with db_roles.purge_allowed("test: the log's first entries expired"):
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM pipelines_checkpointlog WHERE seq IN ({', '.join(map(str, doomed))})")
    with pytest.raises(subscriptions.PositionExpired, match="older than the oldest entry"):
        subscriptions.open_follow(PUBLISHED, start=doomed[0])
    assert subscriptions.open_follow(PUBLISHED, start=doomed[-1]).start == doomed[-1]  # the next one is kept
    assert subscriptions.open_follow(PUBLISHED, start=0).start == 0  # everything kept


def test_the_subscriber_cap_refuses_one_more_with_a_retry_delay(settings):
    settings.TPFGO_SUBSCRIBERS_PER_PROCESS = 1
    from pipelines.engine import stream_gauges

    stream_gauges.reset_for_tests()
    ticket = subscriptions.admit()
    try:
        with pytest.raises(WireError) as refused:
            subscriptions.admit()
        assert refused.value.code == "RESOURCE_EXHAUSTED" and refused.value.retry_after == 1
    finally:
        ticket.release()
    subscriptions.admit().release()  # a slot again once the first one left
    stream_gauges.reset_for_tests()


def test_a_subscribe_refused_for_a_full_process_records_no_subscriber(settings, lane_docs):
    settings.TPFGO_SUBSCRIBERS_PER_PROCESS = 1
    from pipelines.engine import stream_gauges

    stream_gauges.reset_for_tests()
    held = subscriptions.open_follow(PUBLISHED, subscriber="first", admit=subscriptions.admit)
    try:
        with pytest.raises(WireError) as refused:
            subscriptions.open_follow(PUBLISHED, subscriber="second", admit=subscriptions.admit)
        assert refused.value.code == "RESOURCE_EXHAUSTED"
        assert list(Subscriber.objects.values_list("name", flat=True)) == ["first"]
    finally:
        held.ticket.release()
    stream_gauges.reset_for_tests()


# -- gaps: a log seq taken by a transaction that commits later ------------------------------------------------------
def probe_entry(publication: str = PUBLISHED) -> CheckpointLog:
    trace_id = uuid.uuid4()
    return CheckpointLog.objects.create(
        checkpoint_type="DocumentPublished",
        checkpoint_id=uuid.uuid4(),
        trace_id=trace_id,
        trace_number=traces.numbers([trace_id])[trace_id],
        trace_created_at=traces.stamps([trace_id])[trace_id][1],
        pipeline="publish",
        step="publish",
        publication=publication,
        created_at=timezone.now(),
    )


def hold_open(seq_holder: list[int], release: threading.Event) -> threading.Thread:
    def run() -> None:
        try:
            with transaction.atomic():
                seq_holder.append(probe_entry().seq)
                release.wait(10)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    while not seq_holder:
        threading.Event().wait(0.01)
    return thread


def gap_cursor() -> tuple[subscription_follow.Follow, list[float]]:
    """A follow after one logged entry, on a clock the test moves (gap timeout 5 s, late horizon 60 s)."""
    if connection.vendor != "postgresql":
        pytest.skip("in-flight gaps need concurrent writers: PostgreSQL (SQLite serializes writers)")
    first = probe_entry()
    now = [1000.0]
    cursor = subscription_follow.Follow(
        subscriptions.publication(PUBLISHED), first.seq, gap_timeout=5, late_horizon=60, clock=lambda: now[0]
    )
    return cursor, now


@pytest.mark.postgres
def test_a_late_commit_in_a_gap_is_delivered_and_the_position_stays_below_it_until_then(lane_composition):
    cursor, now = gap_cursor()
    seqs: list[int] = []
    release = threading.Event()
    holder = hold_open(seqs, release)
    after = probe_entry()
    assert cursor.poll() == []  # waits at the gap: delivery stays in log order while it can
    now[0] += 6
    [past] = cursor.poll()  # the gap timed out: the stream goes on past it, the gap stays open
    assert past.seq == after.seq and past.position == seqs[0] - 1 == cursor.position
    release.set()
    holder.join(10)
    [late] = cursor.poll()
    assert late.seq == seqs[0] and cursor.position == after.seq
    # A subscriber that acknowledged the position before the late row resumes and gets it (and `after` again).
    resumed = subscription_follow.Follow(subscriptions.publication(PUBLISHED), past.position)
    assert [i.seq for i in resumed.poll()] == [seqs[0], after.seq]


@pytest.mark.postgres
def test_a_gap_that_never_commits_is_given_up_after_the_late_horizon(lane_composition):
    cursor, now = gap_cursor()
    seqs: list[int] = []
    release = threading.Event()

    def rolled_back() -> None:
        try:
            with transaction.atomic():
                seqs.append(probe_entry().seq)
                release.wait(10)
                transaction.set_rollback(True)
        finally:
            connections.close_all()

    holder = threading.Thread(target=rolled_back)
    holder.start()
    while not seqs:
        threading.Event().wait(0.01)
    after = probe_entry()
    release.set()
    holder.join(10)
    assert cursor.poll() == []  # a hole: waited for
    now[0] += 6
    assert [i.seq for i in cursor.poll()] == [after.seq]
    assert cursor.position == seqs[0] - 1
    now[0] += 60
    assert cursor.poll() == [] and cursor.position == after.seq


def test_a_read_of_only_other_publications_rows_goes_on_at_once(lane_docs, settings):
    # With 2 rows per poll most polls find no published row; a catch-up read must not stop (or wait) there.
    settings.TPFGO_SUBSCRIPTION_BUFFER = 2
    lane_docs(*[f"doc {n}" for n in range(5)])
    assert [i.checkpoint_id for i in read_all(poll_interval=60)] == [row.checkpoint_id for row in published_log()]


def test_acked_for_a_subscriber_never_seen_starts_from_the_beginning(lane_docs):
    lane_docs("alpha")
    opened = subscriptions.open_follow(PUBLISHED, subscriber="newcomer", start="acked")
    assert opened.start == 0 and len(read_all(opened.start)) == 1
    assert Subscriber.objects.filter(name="newcomer").count() == 1


def test_the_buffered_gauge_counts_read_items_not_yet_sent_and_drops_to_zero_when_the_follow_ends(lane_docs, settings):
    settings.TPFGO_SUBSCRIPTION_BUFFER = 10  # 10 log rows per poll: 2 published items per batch
    lane_docs(*[f"doc {n}" for n in range(6)])
    stream = subscription_follow.follow(subscriptions.publication(PUBLISHED), 0)
    next(stream)
    assert subscription_follow.buffered()[PUBLISHED] == 1  # its batch-mate waits for the transport
    next(stream)
    assert subscription_follow.buffered()[PUBLISHED] == 0
    next(stream)
    assert subscription_follow.buffered()[PUBLISHED] == 1
    stream.close()  # the client left mid-batch
    assert subscription_follow.buffered()[PUBLISHED] == 0


def test_acked_resumes_even_when_the_purge_took_the_log_s_newest_entries_since(lane_docs):
    lane_docs("alpha", "beta")
    head = CheckpointLog.objects.order_by("-seq").first().seq
    assert subscriptions.acknowledge("quiet", PUBLISHED, head) == head
    purge_the_whole_log()
    # before: 400 "start N is outside the log (0..0)", and manage.py follow gave up
    opened = subscriptions.open_follow(PUBLISHED, subscriber="quiet", start="acked")
    assert opened.start == head
    lane_docs("gamma")  # its seqs come after the purged ones
    assert [item.seq for item in read_all(opened.start)] == [row.seq for row in published_log()]
    assert all(item.seq > head for item in read_all(opened.start)) and read_all(opened.start)
    with pytest.raises(InvalidArgument, match="outside the log"):  # a number past every seq issued is refused
        subscriptions.open_follow(PUBLISHED, start=str(head + 1000))


def test_a_position_the_client_kept_resumes_after_the_purge_took_the_log_s_newest_entries(lane_docs):
    lane_docs("alpha", "beta")
    head = CheckpointLog.objects.order_by("-seq").first().seq
    purge_the_whole_log()
    # before: 400 "start N is outside the log (0..0)" for a position the client was given
    assert subscriptions.open_follow(PUBLISHED, start=str(head)).start == head
    lane_docs("gamma")  # its seqs come after the purged ones
    assert [item.seq for item in read_all(head)] == [row.seq for row in published_log()] and read_all(head)
    issued = CheckpointLog.objects.order_by("-seq").first().seq
    with pytest.raises(InvalidArgument, match=f"start {issued + 1} is outside the log \\(0..{issued}\\)"):
        subscriptions.open_follow(PUBLISHED, start=str(issued + 1))


def test_an_acknowledgement_past_the_purged_head_is_kept_up_to_the_highest_position_ever_issued(lane_docs):
    lane_docs("alpha", "beta")
    head = CheckpointLog.objects.order_by("-seq").first().seq
    purge_the_whole_log()
    before = all_insert_only_counts()
    with pytest.raises(InvalidArgument, match=f"past the log's head .{head}, the highest position ever issued"):
        subscriptions.acknowledge("quiet", PUBLISHED, head + 1)
    assert all_insert_only_counts() == before  # refused: no subscriber, no acknowledgement
    # before: 400 "position N is past the log's head (0)" for a position the subscriber was given
    assert subscriptions.acknowledge("quiet", PUBLISHED, head) == head
    subscriber = Subscriber.objects.get(name="quiet", publication=PUBLISHED)
    assert list(SubscriberAck.objects.filter(subscriber=subscriber).values_list("position", flat=True)) == [head]
    assert subscriptions.open_follow(PUBLISHED, subscriber="quiet", start="acked").start == head


# -- one live follow per subscriber name ------------------------------------------------------------------------------
def test_a_second_follow_of_a_subscriber_name_is_refused_while_the_first_is_live_and_stores_nothing(
    lane_docs, settings
):
    settings.TPFGO_SUBSCRIBER_LEASE_SECONDS = 30
    from pipelines.engine import stream_gauges

    stream_gauges.reset_for_tests()
    lane_docs("alpha")
    first = subscriptions.open_follow(PUBLISHED, subscriber="warehouse", start="acked", admit=subscriptions.admit)
    try:
        before = all_insert_only_counts()
        with pytest.raises(SubscriberFollowed) as refused:  # before: admitted, and the two acknowledged as one
            subscriptions.open_follow(PUBLISHED, subscriber="warehouse", start="acked", admit=subscriptions.admit)
        assert refused.value.code == "ALREADY_EXISTS" and 1 <= refused.value.retry_after <= 30
        assert "followed by another live follow" in refused.value.message
        assert all_insert_only_counts() == before
        assert subscriptions.gate().active == 1  # the refused one's slot is free again
        assert list(SubscriberLease.objects.values_list("holder", flat=True)) == [first.lease.holder]
        # Unnamed follows and other names are not concerned.
        subscriptions.open_follow(PUBLISHED).release()
        subscriptions.open_follow(PUBLISHED, subscriber="accounting").release()
    finally:
        first.release()
    assert SubscriberLease.objects.count() == 0
    again = subscriptions.open_follow(PUBLISHED, subscriber="warehouse", start="acked")
    assert [item.seq for item in read_all(again.start)] == [row.seq for row in published_log()]
    again.release()
    stream_gauges.reset_for_tests()


def test_a_follow_renews_its_lease_as_it_goes_and_releases_it_when_it_ends(lane_docs, settings):
    settings.TPFGO_SUBSCRIBER_LEASE_SECONDS = 30
    lane_docs("alpha", "beta")
    opened = subscriptions.open_follow(PUBLISHED, subscriber="warehouse")
    age_subscriber_leases(11)
    taken = SubscriberLease.objects.get()
    assert taken.expires_at - taken.taken_at == datetime.timedelta(seconds=30)
    stream = subscription_follow.follow(opened.publication, opened.start, lease=opened.lease)
    with time_machine.travel(timezone.now() + datetime.timedelta(seconds=11), tick=False):
        assert isinstance(next(stream), subscription_follow.Item)  # a third of the lease passed: renewed before sending
        renewed = SubscriberLease.objects.get()
        assert renewed.holder == taken.holder and renewed.taken_at == taken.taken_at
        assert renewed.expires_at - taken.expires_at >= datetime.timedelta(seconds=11)  # 30 s from the renewal
    stream.close()
    assert SubscriberLease.objects.count() == 0  # the next follow of the name is admitted at once


def test_a_follow_on_a_node_whose_clock_steps_back_keeps_renewing_its_lease(lane_docs, settings):
    settings.TPFGO_SUBSCRIBER_LEASE_SECONDS = 30
    lane_docs("alpha", "beta")
    opened = subscriptions.open_follow(PUBLISHED, subscriber="warehouse")
    age_subscriber_leases(11)  # a third of the lease passed
    taken = SubscriberLease.objects.get()
    stream = subscription_follow.follow(opened.publication, opened.start, lease=opened.lease)
    with time_machine.travel(timezone.now() - datetime.timedelta(minutes=15), tick=False):  # NTP stepped it back
        assert isinstance(next(stream), subscription_follow.Item)  # before: not renewed for 15 minutes, and taken over
        renewed = SubscriberLease.objects.get()
        assert renewed.holder == taken.holder
        assert renewed.expires_at - taken.expires_at >= datetime.timedelta(seconds=11)  # 30 s from the renewal
    stream.close()
    assert SubscriberLease.objects.count() == 0


def test_a_lease_whose_holder_died_expires_and_the_follow_that_lost_it_sends_nothing_more(lane_docs, settings):
    settings.TPFGO_SUBSCRIBER_LEASE_SECONDS = 30
    lane_docs("alpha")
    died = subscriptions.open_follow(PUBLISHED, subscriber="warehouse")  # its process is killed: never released
    age_subscriber_leases(29)
    with pytest.raises(SubscriberFollowed) as refused:
        subscriptions.open_follow(PUBLISHED, subscriber="warehouse")
    assert refused.value.retry_after == 1  # at most a second left: the least retry delay
    age_subscriber_leases(2)
    with time_machine.travel(timezone.now() + datetime.timedelta(seconds=31), tick=False):
        reconnect = subscriptions.open_follow(PUBLISHED, subscriber="warehouse")  # the lease expired: taken over
        assert SubscriberLease.objects.get().holder == reconnect.lease.holder
        # Had it only stalled, the old follow finds its lease taken before it sends anything more.
        with pytest.raises(SubscriberFollowed):
            list(subscription_follow.follow(died.publication, died.start, lease=died.lease, until_idle=True))
        assert SubscriberLease.objects.get().holder == reconnect.lease.holder  # its end leaves the new lease
    reconnect.release()
    assert SubscriberLease.objects.count() == 0


def test_a_reconnect_from_acked_starts_after_the_acknowledgement_its_old_follow_recorded_as_it_ended(
    lane_docs, monkeypatch
):
    lane_docs("alpha", "beta", "gamma")
    [first, second, third] = [row.seq for row in published_log()]
    subscriptions.acknowledge("warehouse", PUBLISHED, first)
    old = subscriptions.open_follow(PUBLISHED, subscriber="warehouse", start="acked")
    take = subscriber_leases.take

    def old_follow_acknowledges_and_ends_first(subscriber):
        # The race: the old follow's client acknowledges its last item, then the old follow ends, while the
        # reconnect is on its way to the lease.
        subscriptions.acknowledge("warehouse", PUBLISHED, second)
        old.release()
        return take(subscriber)

    monkeypatch.setattr(subscriber_leases, "take", old_follow_acknowledges_and_ends_first)
    reconnect = subscriptions.open_follow(PUBLISHED, subscriber="warehouse", start="acked")
    try:
        assert reconnect.start == second  # before: the position read before the lease, and "beta" sent twice
        assert [item.seq for item in read_all(reconnect.start)] == [third]
    finally:
        reconnect.release()
    assert SubscriberLease.objects.count() == 0


def test_an_acked_start_the_purge_expired_as_the_lease_was_taken_is_refused_and_frees_the_lease_and_the_slot(
    lane_docs, monkeypatch
):
    from pipelines.engine import stream_gauges

    stream_gauges.reset_for_tests()
    lane_docs("alpha", "beta")
    first = CheckpointLog.objects.order_by("seq").first().seq
    subscriptions.acknowledge("warehouse", PUBLISHED, first)
    take, counts = subscriber_leases.take, {}

    def purge_then_take(subscriber):
        with db_roles.purge_allowed("test: the log's first entries expired"):
            with connection.cursor() as cursor:
                cursor.execute("DELETE FROM pipelines_checkpointlog WHERE seq <= %s", [first + 1])
        counts.update(all_insert_only_counts())
        return take(subscriber)

    monkeypatch.setattr(subscriber_leases, "take", purge_then_take)
    with pytest.raises(subscriptions.PositionExpired):
        subscriptions.open_follow(PUBLISHED, subscriber="warehouse", start="acked", admit=subscriptions.admit)
    assert all_insert_only_counts() == counts
    assert SubscriberLease.objects.count() == 0 and subscriptions.gate().active == 0
    stream_gauges.reset_for_tests()


def test_a_live_lease_is_not_taken_over_by_a_node_whose_clock_is_ahead(lane_docs, settings):
    settings.TPFGO_SUBSCRIBER_LEASE_SECONDS = 30
    lane_docs("alpha")
    live = subscriptions.open_follow(PUBLISHED, subscriber="warehouse")
    try:
        with time_machine.travel(timezone.now() + datetime.timedelta(hours=1), tick=False):  # this node's clock
            with pytest.raises(SubscriberFollowed) as refused:  # before: taken over, two follows of the name
                subscriptions.open_follow(PUBLISHED, subscriber="warehouse")
        assert 29 <= refused.value.retry_after <= 30  # the lease's time left by the database's clock
        assert list(SubscriberLease.objects.values_list("holder", flat=True)) == [live.lease.holder]
    finally:
        live.release()
    assert SubscriberLease.objects.count() == 0


@pytest.mark.postgres
def test_followers_racing_for_one_name_on_separate_connections_admit_exactly_one(lane_composition):
    if connection.vendor != "postgresql":
        pytest.skip("racing connections need a server database: PostgreSQL")
    subscriptions.register("warehouse", subscriptions.publication(PUBLISHED))
    outcomes: list[str] = []
    ready = threading.Barrier(4)

    def race() -> None:
        try:
            ready.wait(10)
            subscriptions.open_follow(PUBLISHED, subscriber="warehouse")
            outcomes.append("admitted")
        except SubscriberFollowed:
            outcomes.append("refused")
        finally:
            connections.close_all()

    racers = [threading.Thread(target=race) for _ in range(4)]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join(30)
    assert sorted(outcomes) == ["admitted", "refused", "refused", "refused"]
    assert SubscriberLease.objects.count() == 1


def test_the_highest_position_issued_is_never_below_the_log_s_head(lane_docs):
    lane_docs("alpha")
    head = CheckpointLog.objects.order_by("-seq").first().seq
    assert store.log_seqs_issued(connection) >= head
    if connection.vendor == "sqlite":  # a log table whose key keeps no counter: the head is all that is known
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM sqlite_sequence WHERE name = 'pipelines_checkpointlog'")
        assert store.log_seqs_issued(connection) == head
        assert subscriptions.acknowledge("quiet", PUBLISHED, head) == head


def test_a_position_kept_from_before_a_restore_is_refused_as_ahead_logged_and_counted_and_stores_nothing(lane_docs):
    lane_docs("alpha", "beta")
    issued = store.log_seqs_issued(connection)
    # A restore from a backup brings the log and its sequence back to the backup's: a position the client was given
    # after it is above every seq this database issued.
    kept = issued + 7
    refused = REGISTRY.get_sample_value("tpfgo_subscription_refused_total", {"reason": "POSITION_AHEAD"}) or 0
    before = all_insert_only_counts()

    with capture_logs() as logs:
        with pytest.raises(subscriptions.PositionAhead) as follow:
            subscriptions.open_follow(PUBLISHED, subscriber="warehouse", start=str(kept))
        with pytest.raises(subscriptions.PositionAhead) as ack:
            subscriptions.acknowledge("warehouse", PUBLISHED, kept)

    hint = "resume from 'acked' or 0 and deduplicate by checkpointId"
    assert follow.value.code == ack.value.code == "INVALID_ARGUMENT"  # 400, as before: the client's refusal
    assert follow.value.details == [Detail("start", "POSITION_AHEAD")]
    assert ack.value.details == [Detail("position", "POSITION_AHEAD")]
    assert (
        follow.value.message.startswith(f"start {kept} is outside the log (0..{issued}): ")
        and hint in follow.value.message
    )
    assert (
        ack.value.message.startswith(f"position {kept} is past the log's head ({issued},") and hint in ack.value.message
    )
    ahead = [
        (e["call"], e["publication"], e["subscriber"], e["position"], e["issued"], e["log_level"])
        for e in logs
        if e["event"] == "subscription.position_ahead"
    ]
    assert ahead == [
        ("subscribe", PUBLISHED, "warehouse", kept, issued, "warning"),
        ("ack", PUBLISHED, "warehouse", kept, issued, "warning"),
    ]
    assert REGISTRY.get_sample_value("tpfgo_subscription_refused_total", {"reason": "POSITION_AHEAD"}) == refused + 1
    assert all_insert_only_counts() == before
    assert (Subscriber.objects.count(), SubscriberLease.objects.count()) == (0, 0)
    opened = subscriptions.open_follow(PUBLISHED, start=str(issued))  # a position this database gave out resumes
    assert opened.start == issued
    opened.release()
