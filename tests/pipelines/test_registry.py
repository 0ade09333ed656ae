"""The engine in force is made once per composition (and atomicity), as its mapped pipelines are."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from pipelines.engine.registry import composition, engine
from tests.lane import composition as lane


def test_the_same_composition_gives_the_same_engine_to_every_caller_and_thread():
    first = engine()

    with ThreadPoolExecutor(max_workers=4) as pool:
        seen = list(pool.map(lambda _: engine(), range(8)))

    assert engine() is first
    assert all(found is first for found in seen)
    assert first.composition is composition()


def test_another_composition_gives_a_new_engine_of_it(settings):
    before = engine()

    settings.TPFGO_COMPOSITION = "tests.lane.composition.COMPOSITION"
    changed = engine()

    assert changed is not before
    assert changed.composition is lane.COMPOSITION
    assert engine() is changed


def test_another_atomicity_gives_a_new_engine_of_it(settings):
    before = engine()

    settings.TPFGO_ATOMICITY = "pipeline" if before.atomicity == "step" else "step"
    changed = engine()

    assert changed is not before and changed.atomicity == settings.TPFGO_ATOMICITY
    assert changed.composition is before.composition
    assert engine() is changed
