"""``pipelines.combine``: several domains' compositions run as one, each keeping its own guard and pause keys."""

from __future__ import annotations

import dataclasses
import uuid

import pytest

from pipelines import combine
from tests.lane import composition as lane

TRACE = uuid.UUID(int=7)


def renamed(suffix: str, **changes: object) -> object:
    """The test lane under other pipeline and publication names (a second domain of the same shape)."""
    pipelines = []
    for p in lane.COMPOSITION.pipelines:
        output = dataclasses.replace(p.output, name=p.output.name + suffix)
        steps = tuple(
            dataclasses.replace(
                s,
                outcomes={m: dataclasses.replace(pub, name=pub.name + suffix) for m, pub in s.outcomes.items()},
            )
            for s in p.steps
        )
        pipelines.append(dataclasses.replace(p, name=p.name + suffix, output=output, steps=steps))
    subscriptions = tuple(
        dataclasses.replace(s, publication=s.publication + suffix, pipeline=s.pipeline + suffix)
        for s in lane.COMPOSITION.subscriptions
    )
    terminal = frozenset(name + suffix for name in lane.COMPOSITION.terminal)
    return dataclasses.replace(
        lane.COMPOSITION, pipelines=tuple(pipelines), subscriptions=subscriptions, terminal=terminal, **changes
    )


def test_the_combination_holds_every_pipeline_subscription_and_terminal_publication_of_its_parts():
    other = renamed("-2")
    combined = combine(lane.COMPOSITION, other)

    assert [p.name for p in combined.pipelines] == [
        *(p.name for p in lane.COMPOSITION.pipelines),
        *(p.name for p in other.pipelines),
    ]
    assert combined.subscriptions == (*lane.COMPOSITION.subscriptions, *other.subscriptions)
    assert combined.terminal == lane.COMPOSITION.terminal | other.terminal
    assert combined.subscribers("lane.indexed.v1-2") == [combined.pipeline("publish-2")]


def test_a_pipeline_or_publication_two_parts_declare_is_refused():
    with pytest.raises(ValueError, match="the same pipeline: ingest, manual-publish, publish"):
        combine(lane.COMPOSITION, lane.COMPOSITION)
    same_publications = dataclasses.replace(
        renamed("-2"), pipelines=tuple(dataclasses.replace(p, name=p.name + "-x") for p in lane.COMPOSITION.pipelines)
    )
    with pytest.raises(ValueError, match="the same publication: lane.indexed.v1"):
        combine(lane.COMPOSITION, same_publications)


def test_a_retry_guard_is_asked_only_for_its_own_domain_pipelines_and_their_side_pipelines():
    asked = []

    def guard(pipeline: str, trace_id: object) -> str | None:
        asked.append(pipeline)
        return "cancelled"

    combined = combine(renamed("-2", retry_guard=guard), lane.COMPOSITION)
    assert combined.retry_guard is not None

    assert combined.retry_guard("ingest-2", TRACE) == "cancelled"
    assert combined.retry_guard("ingest-2+stats", TRACE) == "cancelled"
    assert combined.retry_guard("ingest", TRACE) is None
    assert asked == ["ingest-2", "ingest-2+stats"]
    assert combine(lane.COMPOSITION, renamed("-2")).retry_guard is None


def test_pause_keys_of_the_parts_are_joined_and_a_shared_name_asks_each_part_in_turn():
    first = renamed("-2", pause_keys={"doc": lambda value: "a" if value == 1 else None})
    second = dataclasses.replace(lane.COMPOSITION, pause_keys={"doc": lambda value: "b", "tag": lambda value: "t"})

    keys = combine(first, second).pause_keys

    assert sorted(keys) == ["doc", "tag"]
    assert (keys["doc"](1), keys["doc"](2), keys["tag"](1)) == ("a", "b", "t")


def test_pause_values_of_a_shared_key_take_the_first_part_that_takes_the_value_and_unchecked_keys_stay_unchecked():
    def upper(given: str) -> str:
        if not given.isalpha():
            raise ValueError("letters only")
        return given.upper()

    def digits(given: str) -> str:
        if not given.isdigit():
            raise ValueError("digits only")
        return given.lstrip("0") or "0"

    first = renamed("-2", pause_keys={"doc": str, "tag": str}, pause_values={"doc": upper, "tag": upper})
    second = dataclasses.replace(
        lane.COMPOSITION, pause_keys={"doc": str, "tag": str, "own": str}, pause_values={"doc": digits, "own": digits}
    )

    values = combine(first, second).pause_values

    assert sorted(values) == ["doc", "own"]  # "tag": the second part takes any value
    assert (values["doc"]("ab"), values["doc"]("007"), values["own"]("010")) == ("AB", "7", "10")
    with pytest.raises(ValueError, match="^letters only; digits only$"):
        values["doc"]("a1")
