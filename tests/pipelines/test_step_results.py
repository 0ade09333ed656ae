"""What a step may return is a closed union (``Output``, ``Split``, ``AWAIT``, ``SKIP``): anything else, or the
wrong shape for the step, is a ``ContractError`` that stores no checkpoint and feeds the error sink once."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from pipelines.contracts.declarations import Composition
from pipelines.contracts.steps import Command, Output, StepContext, StepStatus
from pipelines.engine.runner import Engine
from pipelines.models import ErrorSinkEntry
from tests.conftest import all_insert_only_counts
from tests.lane import composition as lane
from tests.lane.models import DocumentIndexed

pytestmark = pytest.mark.django_db


def _with_step(pipeline: str, index: int, process: Any) -> Composition:
    """The lane with one step's ``process`` replaced."""

    def swap(p: Any) -> Any:
        if p.name != pipeline:
            return p
        steps = list(p.steps)
        steps[index] = dataclasses.replace(steps[index], process=process)
        return dataclasses.replace(p, steps=tuple(steps))

    return dataclasses.replace(lane.COMPOSITION, pipelines=tuple(swap(p) for p in lane.COMPOSITION.pipelines))


def _only_the_receipt_is_stored() -> None:
    counts = all_insert_only_counts()
    assert counts["lane.DocumentReceived"] == 1
    assert counts["lane.TokenIndexed"] == 0
    assert counts["lane.DocumentIndexed"] == 0
    assert counts["pipelines.CheckpointLog"] == 1  # receive's row only
    assert ErrorSinkEntry.objects.count() == 1


def test_a_step_that_returns_a_plain_dict_fails_with_a_contract_error_and_stores_nothing():
    def tokenize_as_dict(ctx: StepContext[Any]) -> Any:
        return {"doc_id": ctx.input.doc_id, "token": "a", "position": 0}

    execution = Engine(_with_step("ingest", 1, tokenize_as_dict)).start("ingest", {"text": "a b"}, "doc-1")

    failed = execution.result("ingest", "tokenize")
    assert failed is not None and failed.status is StepStatus.FAILED
    assert "returned dict: return an Output, a Split, AWAIT or SKIP" in str(failed.error)
    entry = ErrorSinkEntry.objects.get()
    assert (entry.step, entry.error_code, entry.retryable) == ("tokenize", "CONTRACT_VIOLATION", False)
    _only_the_receipt_is_stored()


def test_a_split_step_that_returns_one_output_fails_with_a_contract_error_and_stores_nothing():
    def tokenize_once(ctx: StepContext[Any]) -> Output:
        return Output({"doc_id": ctx.input.doc_id, "token": "a", "position": 0})

    execution = Engine(_with_step("ingest", 1, tokenize_once)).start("ingest", {"text": "a b"}, "doc-1")

    failed = execution.result("ingest", "tokenize")
    assert failed is not None and failed.status is StepStatus.FAILED
    assert "(split) must return a Split, AWAIT or SKIP" in str(failed.error)
    _only_the_receipt_is_stored()


def test_statuses_compare_equal_to_their_labels():
    assert [s.value for s in StepStatus] == ["inserted", "replayed", "lost", "awaiting", "skipped", "failed", "paused"]
    assert StepStatus.LOST == "lost" and f"{StepStatus.FAILED}" == "failed"


def _nothing_is_stored() -> None:
    counts = all_insert_only_counts()
    assert counts["lane.DocumentReceived"] == 0
    assert counts["pipelines.CheckpointLog"] == 0
    assert ErrorSinkEntry.objects.count() == 1


def _receive_refused(receive: Any) -> str:
    """Run ingest with ``receive`` as its first step: it fails with a ``ContractError``, recorded once as not
    retryable, and nothing is stored; its message."""
    execution = Engine(_with_step("ingest", 0, receive)).start("ingest", {"text": "a b"}, "doc-1")
    failed = execution.result("ingest", "receive")
    assert failed is not None and failed.status is StepStatus.FAILED
    entry = ErrorSinkEntry.objects.get()
    assert (entry.step, entry.error_code, entry.retryable) == ("receive", "CONTRACT_VIOLATION", False)
    _nothing_is_stored()
    return str(failed.error)


def test_an_output_naming_a_field_its_model_lacks_is_a_contract_error_that_says_which_and_is_not_retried():
    def receive_misspelt(ctx: StepContext[Command]) -> Output:
        return Output({"doc_id": ctx.input.id, "txt": "a b"})

    assert _receive_refused(receive_misspelt) == (
        "the Output for DocumentReceived does not fit the model: 'txt' is no field of it (did you mean 'text'?); "
        "it leaves out the required field(s) 'text' "
        "(a step gives exactly these fields, by attribute name, the required ones always: doc_id, text)"
    )


def test_an_output_that_leaves_out_a_required_text_field_is_a_contract_error_not_an_empty_row():
    def receive_without_text(ctx: StepContext[Command]) -> Output:
        return Output({"doc_id": ctx.input.id})

    assert "it leaves out the required field(s) 'text'" in _receive_refused(receive_without_text)


def test_an_output_of_a_model_the_step_does_not_declare_says_what_it_writes_and_how_to_declare_an_outcome():
    def receive_as_indexed(ctx: StepContext[Command]) -> Output:
        return Output({"doc_id": ctx.input.id, "text": "a b"}, model=DocumentIndexed)

    assert _receive_refused(receive_as_indexed) == (
        "step 'receive' cannot write DocumentIndexed: it writes DocumentReceived, DocumentRefused; a decision step "
        "declares each other model it may write as an outcome with its publication (branches=(primary(...), "
        "outcome(name, DocumentIndexed, publication)): docs/architecture.md, 'The branch policy')"
    )
