"""Step metrics: a run per item and outcome on both paths, a latency per run (single path) or per batch."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from pipelines.contracts.errors import error_code
from pipelines.contracts.steps import StepStatus
from pipelines.engine.batch import BatchEngine
from pipelines.engine.runner import Engine
from tests.lane import composition as lane

pytestmark = pytest.mark.django_db

DOCS = [({"text": f"doc {n}"}, f"doc-{n}") for n in range(5)]


def samples(name: str) -> Counter[tuple[str, ...]]:
    return Counter(
        {
            tuple(sorted(s.labels.values())): s.value
            for metric in REGISTRY.collect()
            for s in metric.samples
            if s.name == name
        }
    )


def delta(before: Counter[tuple[str, ...]], name: str) -> Counter[tuple[str, ...]]:
    after = samples(name)
    after.subtract(before)
    return +after  # drop the zeros


def test_every_step_run_is_counted_once_with_its_outcome_and_timed(lane_engine):
    runs, seconds = samples("tpfgo_step_runs_total"), samples("tpfgo_step_seconds_count")
    lane.FAILURES["tokenize"] = "fatal"
    results = (
        lane_engine.start("ingest", {"text": "a"}, "doc-1").results
        + lane_engine.start("ingest", {"text": "b"}, "doc-2").results
    )
    expected = Counter(tuple(sorted((r.status, r.pipeline, r.step))) for r in results)
    assert "failed" in {r.status for r in results}
    assert delta(runs, "tpfgo_step_runs_total") == expected
    assert delta(seconds, "tpfgo_step_seconds_count") == Counter(tuple(sorted((r.pipeline, r.step))) for r in results)


def test_each_failed_run_is_counted_once_with_its_error_code(lane_engine):
    """TPFGoStepFailing and TPFGoCourierShortage (docs/alerts.yml) tell the failures apart by their code."""
    failures, runs = samples("tpfgo_step_failures_total"), samples("tpfgo_step_runs_total")
    lane.FAILURES["tokenize"] = "fatal"
    results = [r for n in range(3) for r in lane_engine.start("ingest", {"text": f"{n}"}, f"doc-{n}").results]
    failed = [r for r in results if r.status is StepStatus.FAILED]
    assert [(r.pipeline, r.step) for r in failed] == [("ingest", "tokenize")] * 3
    assert delta(failures, "tpfgo_step_failures_total") == Counter(
        {tuple(sorted((error_code(failed[0].error), "ingest", "tokenize"))): 3}
    )
    assert delta(runs, "tpfgo_step_runs_total")[tuple(sorted(("failed", "ingest", "tokenize")))] == 3


def test_a_batch_counts_each_items_run_and_times_the_batch_once():
    runs, batches = samples("tpfgo_step_runs_total"), samples("tpfgo_batch_step_seconds_count")
    single = samples("tpfgo_step_seconds_count")
    executions = BatchEngine(lane.COMPOSITION).start_many("ingest", DOCS)
    results = [r for e in executions for r in e.results]
    assert delta(runs, "tpfgo_step_runs_total") == Counter(
        tuple(sorted((r.status, r.pipeline, r.step))) for r in results
    )
    steps = {(r.pipeline, r.step) for r in results}
    assert delta(batches, "tpfgo_batch_step_seconds_count") == Counter({tuple(sorted(s)): 1 for s in steps})
    assert delta(single, "tpfgo_step_seconds_count") == Counter()


OPERATIONS = Path(__file__).resolve().parents[2] / "docs" / "operations.md"


def test_every_outcome_a_step_run_can_have_is_named_by_the_metric_the_docs_and_the_span():
    """An operator reads the outcomes from the HELP line, the metrics table and the tracing section alike."""
    outcomes = {str(status) for status in StepStatus}
    (runs,) = [m for m in REGISTRY.collect() if m.name == "tpfgo_step_runs"]
    assert set(re.findall(r"\w+", runs.documentation.partition("(")[2])) == outcomes
    docs = OPERATIONS.read_text()
    (row,) = re.findall(r"^\| `tpfgo_step_runs_total` \|.*$", docs, re.M)
    assert set(re.findall(r"`(\w+)`", row.split("by outcome:")[1])) == outcomes
    (span,) = re.findall(r"`tpfgo\.outcome` \(([^)]*)\)", docs)
    assert set(re.findall(r"`(\w+)`", span)) == outcomes


def test_in_the_per_pipeline_mode_a_failure_is_counted_by_its_code(lane_engine):
    """The whole pipeline rolled back; its failing run is counted once by its outcome and by its code, the ratio
    TPFGoStepFailing reads."""
    failures, runs = samples("tpfgo_step_failures_total"), samples("tpfgo_step_runs_total")
    lane.FAILURES["tokenize"] = "fatal"
    (result,) = Engine(lane.COMPOSITION, atomicity="pipeline").start("ingest", {"text": "a"}, "doc-1").results
    assert (result.status, result.step) == (StepStatus.FAILED, "tokenize")
    key = tuple(sorted((error_code(result.error), "ingest", "tokenize")))
    assert delta(failures, "tpfgo_step_failures_total") == Counter({key: 1})
    assert delta(runs, "tpfgo_step_runs_total")[tuple(sorted(("failed", "ingest", "tokenize")))] == 1
