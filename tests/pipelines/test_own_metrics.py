"""``metrics.own_registry``: what a process that answers no ``/metrics`` (the gRPC server) serves on its port: the
figures only its memory holds (its streams), none of the node's shared samples or the database's figures, which
the node's ``/metrics`` renders already (a series scraped from two targets would be counted twice)."""

from __future__ import annotations

import os
import urllib.request

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from pipelines import metrics
from pipelines.engine import stream_gauges
from pipelines.recovery import backlog
from pipelines.transport import subscription_follow


def buffered() -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """This process's follows' buffers, its other own figure (an earlier test's follows leave their publications)."""
    pid = str(os.getpid())
    series = {(("pid", pid), ("publication", name)): float(n) for name, n in subscription_follow.buffered().items()}
    return {"tpfgo_subscription_buffered": series} if series else {}


def families(exposition: bytes) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(exposition.decode()):
        for sample in family.samples:
            out.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return out


@pytest.mark.django_db
def test_the_own_registry_holds_this_processs_streams_and_nothing_shared(lane_engine):
    """A checkpoint logged and a step run counted: the database's figures (the sweep's age, registered at start)
    and the shared counters would answer, were they included."""
    assert lane_engine.start("ingest", {"text": "a"}, "doc-1").results
    assert backlog.safe_collect()  # the figure left out below exists
    stream_gauges.reset_for_tests()
    gate = stream_gauges.admission("watch", 3)
    ticket = gate.try_enter()
    assert ticket is not None
    try:
        found = families(generate_latest(metrics.own_registry()))
    finally:
        ticket.release()
        stream_gauges.reset_for_tests()
    labels = (("gate", "watch"), ("pid", str(os.getpid())))
    assert found == {
        "tpfgo_stream_admission_active": {labels: 1.0},
        "tpfgo_stream_admission_capacity": {labels: 3.0},
        "tpfgo_stream_admission_admitted_total": {labels: 1.0},
        "tpfgo_stream_admission_refused_total": {labels: 0.0},
        **buffered(),
    }


def test_it_is_served_on_the_address_given_with_what_registers_after_it_started():
    """The gRPC server starts its port before the modules of its streams are imported (on their first call)."""

    def late() -> list[metrics.Sample]:
        return [("tpfgo_test_late", {"pid": str(os.getpid())}, 7.0)]

    stream_gauges.reset_for_tests()
    stream_gauges.admission("subscription", 2)
    try:
        address = metrics.serve("127.0.0.1:0", metrics.own_registry())
        metrics.register_collector(late, own=True)
        with urllib.request.urlopen(f"http://{address}/", timeout=10) as response:
            found = families(response.read())
    finally:
        stream_gauges.reset_for_tests()
        metrics._own.remove(late)
        metrics._collectors.remove(late)
    assert address.startswith("127.0.0.1:") and not address.endswith(":0")
    assert {name: len(series) for name, series in found.items()} == {
        "tpfgo_stream_admission_active": 1,
        "tpfgo_stream_admission_capacity": 1,
        "tpfgo_stream_admission_admitted_total": 1,
        "tpfgo_stream_admission_refused_total": 1,
        "tpfgo_test_late": 1,
        **{name: len(series) for name, series in buffered().items()},
    }


def test_a_serving_process_opens_its_streams_gates_at_its_start_with_the_capacities_its_settings_give(settings):
    from tpfgo_site.stream_gates import open_gates

    settings.TPFGO_INGEST_MAX_STREAMS, settings.TPFGO_WATCH_MAX_STREAMS, settings.TPFGO_SUBSCRIBERS_PER_PROCESS = (
        5,
        6,
        7,
    )
    stream_gauges.reset_for_tests()
    try:
        open_gates()
        found = families(generate_latest(metrics.own_registry()))
    finally:
        stream_gauges.reset_for_tests()
    pid = str(os.getpid())
    capacity = {
        (("gate", gate), ("pid", pid)): float(n) for gate, n in (("ingest", 5), ("subscription", 7), ("watch", 6))
    }
    assert found["tpfgo_stream_admission_capacity"] == capacity
    assert found["tpfgo_stream_admission_active"] == dict.fromkeys(capacity, 0.0)
