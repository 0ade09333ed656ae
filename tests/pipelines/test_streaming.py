"""The streaming runner: order, bounded demand, block and reject, stage errors, cancellation, gauges, admission."""

import itertools
import threading
import time

import pytest

from pipelines.engine import metrics, stream_gauges
from pipelines.engine.streaming import Buffer, Overflow, Ready, Stage, Stream, admission, gauges


@pytest.fixture(autouse=True)
def _fresh_gauges():
    stream_gauges.reset_for_tests()
    yield
    stream_gauges.reset_for_tests()


def refused(item):
    return ("refused", item)


def gauge(name, **labels):
    values = [g["value"] for g in gauges() if g["name"] == name and labels.items() <= g["labels"].items()]
    assert len(values) == 1, (name, labels, gauges())
    return values[0]


def wait_until(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.005)


def test_results_come_out_in_source_order_through_every_stage():
    def jitter(x):
        time.sleep(0.001 * (x % 3))
        return x * 10

    stream = Stream("s", [Stage("times", jitter), Stage("plus", lambda x: x + 1)], refuse=refused, capacity=4)
    assert list(stream.run(range(50))) == [x * 10 + 1 for x in range(50)]


def test_several_workers_per_stage_run_side_by_side_and_keep_the_order():
    running, peak = [0], [0]
    lock = threading.Lock()

    def slow(x):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.002 * (x % 4))
        with lock:
            running[0] -= 1
        return x

    stages = [Stage("a", slow, workers=3), Stage("b", lambda x: x * 2, workers=2), Stage("c", str, workers=2)]
    stream = Stream("s", stages, refuse=refused, capacity=4, batch_size=2)
    assert list(stream.run(range(200))) == [str(x * 2) for x in range(200)]
    assert peak[0] == 3


def test_a_ready_item_skips_the_stages_and_keeps_its_place():
    source = [1, Ready("bad line"), 2, 3]
    stream = Stream("s", [Stage("a", lambda x: Ready(f"done {x}") if x == 2 else x), Stage("b", str)], refuse=refused)
    assert list(stream.run(source)) == ["1", "bad line", "done 2", "3"]


def test_block_reads_the_source_no_further_ahead_than_the_buffer_allows():
    gate = threading.Event()
    pulled = itertools.count()
    taken = []

    def source():
        for i in range(1000):
            taken.append(next(pulled))
            yield i

    def slow(x):
        gate.wait()
        return x

    stream = Stream("s", [Stage("slow", slow)], refuse=refused, capacity=8, batch_size=4, policy="block")
    results = stream.run(source())
    consumer = threading.Thread(target=lambda: taken.append(sum(1 for _ in results)))
    consumer.start()
    wait_until(lambda: gauge("tpfgo_stream_buffer_queued", stream="s") == 7)
    time.sleep(0.05)
    # The first grant was the 8 free slots; the stage took one, 7 wait, and 4 must free up before more is read.
    assert len(taken) == 8
    assert gauge("tpfgo_stream_inflight", stream="s", stage="slow") == 1
    assert gauge("tpfgo_stream_buffer_capacity", stream="s", buffer="slow") == 8
    assert gauge("tpfgo_stream_buffer_peak", stream="s", buffer="slow") == 8  # full once, 7 now
    gate.set()
    consumer.join(10)
    assert taken[-1] == 1000


def test_block_grants_demand_in_batches():
    stream = Stream("s", [Stage("id", lambda x: x)], refuse=refused, capacity=8, batch_size=4)
    buffer = stream.buffers[0]
    for i in range(6):
        buffer.put(i)
    granted = []
    waiter = threading.Thread(target=lambda: granted.append(buffer.wait_for_room(4)))
    waiter.start()
    time.sleep(0.05)
    assert granted == []  # 2 free slots are not a batch of 4
    buffer.get()
    buffer.get()
    waiter.join(5)
    assert granted == [4]


@pytest.mark.django_db  # metrics.render() also runs the database-backed collectors
def test_reject_refuses_what_finds_the_buffer_full_and_processes_everything_it_accepted():
    started, gate = threading.Event(), threading.Event()
    processed = []

    def slow(x):
        started.set()
        gate.wait()
        processed.append(x)
        return ("done", x)

    def source():
        yield 0
        started.wait()  # item 0 is in the stage, so the buffer is empty and holds exactly 2 more
        yield from range(1, 10)
        gate.set()

    stream = Stream("s", [Stage("slow", slow)], refuse=refused, capacity=2, policy="reject")
    results = list(stream.run(source()))
    assert results == [("done", 0), ("done", 1), ("done", 2)] + [("refused", i) for i in range(3, 10)]
    assert processed == [0, 1, 2]
    assert gauge("tpfgo_stream_items_refused_total", stream="s") == 7
    assert "tpfgo_stream_items_refused_total" in metrics.render()


def test_a_reject_buffer_raises_overflow_and_a_block_buffer_waits():
    rejecting = Buffer("s", "b", 1, "reject")
    rejecting.put(1)
    with pytest.raises(Overflow):
        rejecting.put(2)
    blocking = Buffer("s", "b", 1, "block")
    blocking.put(1)
    putter = threading.Thread(target=blocking.put, args=(2,))
    putter.start()
    time.sleep(0.05)
    assert putter.is_alive() and blocking.queued == 1
    assert blocking.get() == 1
    putter.join(5)
    assert blocking.queued == 1


def test_an_unknown_policy_or_an_empty_buffer_is_refused():
    with pytest.raises(ValueError):
        Buffer("s", "b", 1, "drop")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Buffer("s", "b", 0)


def test_a_stage_error_is_raised_after_every_earlier_result():
    def boom(x):
        if x == 3:
            raise RuntimeError("stage exploded")
        return x

    stream = Stream("s", [Stage("boom", boom)], refuse=refused)
    seen = []
    with pytest.raises(RuntimeError, match="stage exploded"):
        for value in stream.run(range(10)):
            seen.append(value)
    assert seen == [0, 1, 2]
    assert gauge("tpfgo_stream_live", stream="s") == 0


def test_a_broken_source_is_raised_after_every_admitted_item_is_answered():
    def source():
        yield from range(3)
        raise ConnectionResetError("client went away")

    stream = Stream("s", [Stage("id", lambda x: x)], refuse=refused)
    seen = []
    with pytest.raises(ConnectionResetError):
        for value in stream.run(source()):
            seen.append(value)
    assert seen == [0, 1, 2]


def test_closing_the_results_stops_the_stream_and_its_threads():
    stream = Stream("s", [Stage("a", lambda x: x), Stage("b", lambda x: x)], refuse=refused, capacity=4)
    results = stream.run(itertools.count())
    assert [next(results) for _ in range(5)] == [0, 1, 2, 3, 4]
    assert gauge("tpfgo_stream_live", stream="s") == 1
    results.close()
    for thread in stream._threads:
        thread.join(5)
        assert not thread.is_alive()
    assert gauge("tpfgo_stream_live", stream="s") == 0
    assert gauge("tpfgo_stream_buffer_queued", stream="s", buffer="a") == 0


@pytest.mark.django_db  # metrics.render() also runs the database-backed collectors
def test_admission_refuses_a_stream_beyond_capacity_until_one_leaves():
    gate = admission("ingest-test", capacity=1)
    first = gate.try_enter()
    assert first is not None
    assert gate.try_enter() is None
    first.release()
    first.release()  # idempotent
    second = gate.try_enter()
    assert second is not None
    second.release()
    assert gauge("tpfgo_stream_admission_admitted_total", gate="ingest-test") == 2
    assert gauge("tpfgo_stream_admission_refused_total", gate="ingest-test") == 1
    assert gauge("tpfgo_stream_admission_active", gate="ingest-test") == 0
    text = metrics.render()
    assert 'tpfgo_stream_admission_capacity{gate="ingest-test",pid="' in text
    assert text.count("# TYPE tpfgo_stream_admission_capacity gauge") == 1


def test_a_batch_stage_takes_what_is_queued_up_to_its_batch_and_keeps_the_order():
    first_call, queued = threading.Event(), threading.Event()
    sizes = []

    def double(items):
        sizes.append(len(items))
        first_call.set()
        queued.wait(5)  # the first call holds its worker until every later item is queued
        return [x * 2 for x in items]

    def source():
        yield 0
        first_call.wait(5)  # item 0 was taken alone: nothing else was queued
        yield from range(1, 10)
        queued.set()  # reached once item 9 is in the buffer

    stream = Stream("s", [Stage("double", double, batch=4)], refuse=refused, capacity=16)
    assert list(stream.run(source())) == [x * 2 for x in range(10)]
    assert sizes == [1, 4, 4, 1]


def test_a_worker_holds_at_most_its_batch_and_the_gauge_counts_items():
    gate = threading.Event()
    stages = [Stage("slow", lambda items: gate.wait(5) and items, batch=3)]
    stream = Stream("s", stages, refuse=refused, capacity=8, batch_size=1)
    results = stream.run(range(20))
    consumer = threading.Thread(target=lambda: list(results))
    consumer.start()
    wait_until(lambda: gauge("tpfgo_stream_inflight", stream="s", stage="slow") == 3)
    wait_until(lambda: gauge("tpfgo_stream_buffer_queued", stream="s", buffer="slow") == 8)
    time.sleep(0.05)
    assert gauge("tpfgo_stream_inflight", stream="s", stage="slow") == 3  # one batch in hand, the rest queued
    gate.set()
    consumer.join(10)
    assert not consumer.is_alive()


def test_a_batch_that_raises_fails_each_of_its_items_after_every_earlier_result():
    def boom(items):
        if 5 in items:
            raise RuntimeError("batch exploded")
        return items

    def source():
        yield from range(10)

    stream = Stream("s", [Stage("boom", boom, batch=4)], refuse=refused, capacity=2, batch_size=1)
    seen = []
    with pytest.raises(RuntimeError, match="batch exploded"):
        for value in stream.run(source()):
            seen.append(value)
    assert seen and seen == list(range(len(seen))) and 5 not in seen


def test_a_batch_stage_must_answer_each_item_once():
    stream = Stream("s", [Stage("short", lambda items: items[1:], batch=4)], refuse=refused)
    with pytest.raises(ValueError, match="returned 0 values for 1 items"):
        list(stream.run([1]))
    with pytest.raises(ValueError):
        Stage("none", lambda items: items, batch=0)
