"""The contract rules one by one, on tiny compositions built in Python, and the lock's drift classification."""

from __future__ import annotations

import dataclasses
import importlib
import sys
from typing import Any

import pytest

from pipelines.contracts import checks as contract_checks
from pipelines.contracts import lock as contract_lock
from pipelines.contracts.checks import ContractsBroken, check_composition
from pipelines.contracts.declarations import Composition, Pipeline, Publication, Step, Subscription
from pipelines.contracts.fields import contract
from tests.lane import composition as lane


def model(name: str, version: int = 1, *fields: Any, contract_name: str | None = None) -> type:
    """A stand-in checkpoint type: the checks only read its contract."""
    spec = fields or ((1, "docId", "uuid"), (2, "text", "string"))
    return type(name, (), {"contract": contract(contract_name or name, version, *spec)})


def step(name: str, writes: type, **kwargs: Any) -> Step:
    return Step(name, lambda ctx: None, writes, **kwargs)


def pipeline(name: str, writes: type, publication: str, *, inputs: tuple[type, ...] = (), **kwargs: Any) -> Pipeline:
    output = Publication(publication, writes, ("docId",))
    return Pipeline(name, inputs, (step(name.replace("-", "_"), writes),), output, **kwargs)


Source, Sink = model("Source"), model("Sink")
SOURCE = pipeline("source", Source, "t.source.v1")
SINK = pipeline("sink", Sink, "t.sink.v1", inputs=(Source,))
SOUND = Composition((SOURCE, SINK), (Subscription("t.source.v1", "sink"),), frozenset({"t.sink.v1"}))


def found(composition: Composition) -> list[tuple[str, str]]:
    return [(p.id, p.message) for p in check_composition(composition)]


def test_a_sound_composition_has_no_problems():
    assert check_composition(SOUND) == []


def test_a_subscription_naming_an_unknown_pipeline():
    broken = dataclasses.replace(SOUND, subscriptions=(Subscription("t.source.v1", "sinkk"),))

    assert found(broken)[0] == (
        "pipelines.E013",
        "subscription to publication 't.source.v1' names pipeline 'sinkk', which is not in the composition "
        "(expected=one of [source, sink] actual='sinkk')",
    )


def test_a_field_that_is_optional_on_one_side_and_a_version_that_differs():
    consumer_view = model("Loose", 2, (1, "docId", "uuid"), (2, "text", "string", False), contract_name="Source")
    broken = dataclasses.replace(SOUND, pipelines=(SOURCE, dataclasses.replace(SINK, inputs=(consumer_view,))))
    where = "producer source/source outputs Source, consumer sink/sink expects Source"

    assert found(broken) == [
        (
            "pipelines.E020",
            f"handoff contract version mismatch for publication 't.source.v1': {where} (expected=v2 actual=v1)",
        ),
        (
            "pipelines.E019",
            f"handoff field required mismatch for publication 't.source.v1' field 'text': {where} "
            "(expected=false actual=true)",
        ),
    ]


def test_key_fields_must_exist_and_be_required():
    optional = model("Optional", 1, (1, "docId", "uuid", False))
    producer = pipeline("optional", optional, "t.optional.v1")
    keyless = dataclasses.replace(SOURCE, output=dataclasses.replace(SOURCE.output, key_fields=()))
    broken = Composition((keyless, producer, SINK), SOUND.subscriptions, frozenset({"t.sink.v1", "t.optional.v1"}))

    assert found(broken) == [
        (
            "pipelines.E021",
            "publication 't.source.v1' (producer source/source) declares no key fields "
            "(expected=one or more required fields of Source actual=none)",
        ),
        (
            "pipelines.E022",
            "key field 'docId' of publication 't.optional.v1' (producer optional/optional) is "
            "optional on contract Optional (expected=required actual=optional)",
        ),
    ]


@pytest.mark.parametrize(("publication", "actual"), [("t.source.v2", ".v2"), ("t.source", "no .vN suffix")])
def test_the_publication_suffix_is_the_contract_version(publication, actual):
    renamed = dataclasses.replace(SOURCE, output=dataclasses.replace(SOURCE.output, name=publication))
    broken = Composition((renamed, SINK), (Subscription(publication, "sink"),), SOUND.terminal)

    assert found(broken) == [
        (
            "pipelines.E023",
            f"publication '{publication}' (producer source/source) hands off Source version 1 "
            f"(expected=.v1 actual={actual})",
        ),
    ]


def test_invalid_contracts_and_models_without_one():
    bad = model("Bad", 1, (1, "docId", "uuid"), (1, "text", "text"), (0, "docId", "string"))
    bare = type("Bare", (), {})
    broken = Composition((pipeline("bad", bad, "t.bad.v1"), pipeline("bare", bare, "t.bare.v1")), (), frozenset())

    problems = found(broken)
    assert problems[:2] == [
        (
            "pipelines.E024",
            "contract Bad of model Bad (written by bad/bad) is invalid: duplicate field number 1 "
            "(docId, text); duplicate field name 'docId'; field 'text' has unknown type 'text' (expected one of bool, "
            "datetime, decimal, int, json, string, uuid); field 'docId' has number 0 (expected a positive number)",
        ),
        ("pipelines.E024", "checkpoint model Bare (written by bare/bare) declares no contract"),
    ]


def test_pipelines_need_steps_and_unique_names():
    empty = dataclasses.replace(SINK, steps=())
    broken = dataclasses.replace(SOUND, pipelines=(SOURCE, SOURCE, empty))

    ids = [p for p in found(broken) if p[0] in ("pipelines.E026", "pipelines.E027")]
    assert ids == [
        ("pipelines.E027", "pipeline name 'source' is declared 2 times (expected=1 actual=2)"),
        ("pipelines.E026", "pipeline 'sink' has no steps (expected=at least 1 actual=0)"),
    ]


def test_a_publication_must_carry_the_model_its_step_writes():
    elsewhere = dataclasses.replace(SINK, output=Publication("t.sink.v1", Source, ("docId",)))
    wrong_outcome = dataclasses.replace(
        SOURCE, steps=(step("source", Source, outcomes={Sink: Publication("t.refused.v1", Source, ("docId",))}),)
    )
    broken = Composition((wrong_outcome, elsewhere), SOUND.subscriptions, frozenset({"t.sink.v1", "t.refused.v1"}))

    assert [p for p in found(broken) if p[0] == "pipelines.E028"] == [
        (
            "pipelines.E028",
            "publication 't.refused.v1' (producer source/source) declares Source, but the step "
            "writes Sink for it (expected=Sink actual=Source)",
        ),
        (
            "pipelines.E028",
            "publication 't.sink.v1' of pipeline 'sink' hands off Source, but no step of 'sink' "
            "writes it (expected=Source actual=none)",
        ),
    ]


def test_a_step_appended_after_the_one_that_writes_the_output_is_refused_as_it_would_be_published():
    appended = dataclasses.replace(SINK, steps=(*SINK.steps, step("tip", model("Tip"))))
    broken = dataclasses.replace(SOUND, pipelines=(SOURCE, appended))

    assert found(broken) == [
        (
            "pipelines.E028",
            "publication 't.sink.v1' of pipeline 'sink' hands off Sink, written by sink/sink, but the pipeline's "
            "last step tip writes Tip: the output is handed off only from the last step, so its subscribers would "
            "never run (expected=Sink actual=Tip)",
        )
    ]
    assert check_composition(broken)[0].hint == (
        "Put the new step before sink, or give it a pipeline of its own that subscribes to 't.sink.v1' "
        '(docs/architecture.md, "How to add a step").'
    )


def test_a_terminal_name_nobody_produces_and_an_unhappy_pipeline_that_handles_a_dead_end():
    misspelt = dataclasses.replace(SOUND, terminal=frozenset({"t.sink.v1", "t.snik.v1"}))
    assert found(misspelt) == [
        (
            "pipelines.W011",
            "Composition.terminal names publication 't.snik.v1', which no pipeline produces "
            "(expected=a produced publication actual='t.snik.v1')",
        ),
    ]

    handler = pipeline("handle", model("Handled"), "t.handled.v1", inputs=(Sink,), kind="remediation")
    not_terminal = Composition((SOURCE, SINK, handler), SOUND.subscriptions, frozenset({"t.handled.v1"}))
    assert check_composition(not_terminal) == []


# -- the lock's drift classification --------------------------------------------------------------------------
LOCKED = {
    "contract": "Doc",
    "version": 1,
    "fields": [
        {"number": 1, "name": "docId", "type": "uuid", "required": True},
        {"number": 2, "name": "digest", "type": "string", "required": True},
    ],
}


def changed(**edits: Any) -> list[tuple[bool, str]]:
    fields = [dict(f) for f in LOCKED["fields"]]
    for spec in fields:
        spec.update(edits.get(spec["name"], {}))
    fields.extend(edits.get("extra", []))
    now = {**LOCKED, "contract": edits.get("contract", "Doc"), "fields": fields}
    return [(c.breaking, c.text) for c in contract_lock.diff(LOCKED, now)]


def test_drift_is_classified_breaking_or_additive():
    assert changed(digest={"name": "summary"}) == [(True, "field #2 renamed (expected='digest' actual='summary')")]
    assert changed(digest={"type": "json"}) == [(True, "field 'digest' type changed (expected=string actual=json)")]
    assert changed(digest={"number": 5}) == [(True, "field 'digest' number changed (expected=2 actual=5)")]
    assert changed(digest={"required": False}) == [
        (True, "field 'digest' required changed (expected=true actual=false)")
    ]
    assert changed(contract="Document") == [(True, "contract renamed (expected=Doc actual=Document)")]
    extra = {"number": 3, "name": "lang", "type": "string", "required": False}
    assert changed(extra=[extra]) == [(False, "field 'lang' (#3 string, optional) added")]
    reuse = {"number": 2, "name": "lang", "type": "string", "required": True}
    assert changed(extra=[reuse]) == [(True, "field 'lang' reuses number 2 of field 'digest'")]
    assert contract_lock.diff(LOCKED, {**LOCKED, "fields": LOCKED["fields"][:1]})[0].text == (
        "field 'digest' (#2 string) removed"
    )


def test_a_malformed_entry_and_a_retired_publication_are_reported():
    lock = contract_lock.updated(SOUND, None).lock
    lock["t.sink.v1"] = {"contract": "Sink", "version": "1", "fields": []}
    lock["t.gone.v1"] = contract_lock.seal("t.gone.v1", dict(LOCKED))

    assert found_lock(lock) == [
        (
            "pipelines.E031",
            "contracts lock entry for publication 't.sink.v1' is malformed: expected 'contract' "
            "(a string) and 'version' (an integer)",
        ),
        (
            "pipelines.W034",
            "contracts lock out of date: it lists publication 't.gone.v1', which no pipeline produces any more",
        ),
    ]


def found_lock(lock: dict[str, Any]) -> list[tuple[str, str]]:
    return [(p.id, p.message) for p in contract_lock.check_lock(SOUND, lock)]


# -- loading and start-up --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "message"),
    [
        (
            "tests.contracts_fixtures.nowhere.COMPOSITION",
            "ModuleNotFoundError: No module named 'tests.contracts_fixtures.nowhere'",
        ),
        (
            "tests.contracts_fixtures.compositions.NOWHERE",
            'ImportError: Module "tests.contracts_fixtures.compositions" does not define a "NOWHERE" attribute/class',
        ),
    ],
)
def test_a_composition_that_cannot_be_loaded(settings, path, message):
    settings.TPFGO_COMPOSITION = path

    assert [(p.id, p.message) for p in contract_checks.problems_in_force()] == [
        ("pipelines.E010", f"composition '{path}' (TPFGO_COMPOSITION) cannot be loaded: {message}")
    ]


def test_a_setting_that_names_something_else_than_a_composition(settings):
    settings.TPFGO_COMPOSITION = "tests.lane.composition.PUBLISH"

    assert [p.message for p in contract_checks.problems_in_force()] == [
        "composition 'tests.lane.composition.PUBLISH' (TPFGO_COMPOSITION) is not a Composition "
        "(expected=pipelines.contracts.declarations.Composition actual=Pipeline)"
    ]


@pytest.fixture
def lane_lock(settings, tmp_path):  # type: ignore[no-untyped-def]
    settings.TPFGO_CONTRACTS_LOCK = tmp_path / "contracts.lock.json"
    contract_lock.write(settings.TPFGO_CONTRACTS_LOCK, contract_lock.updated(lane.COMPOSITION, None).lock)


def test_refuse_to_start_raises_with_every_diagnostic(settings, lane_lock, capsys):
    settings.TPFGO_COMPOSITION = "tests.contracts_fixtures.compositions.TYPE_MISMATCH"

    with pytest.raises(ContractsBroken) as refused:
        contract_checks.refuse_to_start_if_broken("the gRPC server")

    assert [p.id for p in refused.value.problems] == ["pipelines.E014"]
    assert str(refused.value).startswith(
        "TPFGo refuses to start the gRPC server: the handoff contracts of "
        "tests.contracts_fixtures.compositions.TYPE_MISMATCH are broken (1 error, 0 warnings):\n"
        "pipelines.E014 (error) handoff type mismatch for publication 'lane.indexed.v1'"
    )
    assert capsys.readouterr().err == f"{refused.value}\n"


def test_warnings_do_not_stop_a_start_but_are_printed(settings, lane_lock, capsys):
    settings.TPFGO_COMPOSITION = "tests.contracts_fixtures.compositions.DEAD_END"

    problems = contract_checks.refuse_to_start_if_broken("the web process (WSGI)")

    assert [p.id for p in problems] == ["pipelines.W010"]
    assert capsys.readouterr().err.startswith("contract warnings in the web process (WSGI) (0 errors, 1 warning):\n")


def test_the_asgi_application_refuses_a_broken_composition(settings, lane_lock, capsys):
    settings.TPFGO_COMPOSITION = "tests.contracts_fixtures.compositions.DUPLICATE_PRODUCER"
    sys.modules.pop("tpfgo_site.asgi", None)

    try:
        with pytest.raises(ContractsBroken, match=r"pipelines\.E012 \(error\) publication 'lane.indexed.v1' has 2"):
            importlib.import_module("tpfgo_site.asgi")
    finally:
        sys.modules.pop("tpfgo_site.asgi", None)
    assert "TPFGo refuses to start the web process (ASGI)" in capsys.readouterr().err


def test_the_shipped_chain_with_a_consumer_expecting_the_wrong_type_names_both_sides():
    from checkout import composition as shipped
    from checkout.ready_order.models import ReadyOrder

    acceptance = dataclasses.replace(shipped.RESTAURANT_ACCEPTANCE, inputs=(ReadyOrder,))
    broken = dataclasses.replace(
        shipped.COMPOSITION,
        pipelines=tuple(acceptance if p.name == acceptance.name else p for p in shipped.COMPOSITION.pipelines),
    )

    assert found(broken) == [
        (
            "pipelines.E014",
            "handoff type mismatch for publication 'tpfgo.consumer.order-approved.v1': producer "
            "consumer-validation/order_approved outputs OrderApproved, consumer restaurant-acceptance/ticket_created "
            "expects ReadyOrder (expected=ReadyOrder actual=OrderApproved)",
        ),
        (  # the declared input contradicts the first step too
            "pipelines.E046",
            "step restaurant-acceptance/ticket_created reads OrderApproved, but ReadyOrder reaches it: pipeline "
            "restaurant-acceptance takes it (expected=OrderApproved actual=ReadyOrder)",
        ),
    ]
