"""The search lane is built on the engine's public face only: every engine module it imports is the face
(``pipelines``) or Django's place for the engine's models (``pipelines.models``), and it imports no other domain.

import-linter says the same in ``make lint`` (pyproject.toml); this test reads the import graph itself, so the
rule holds even where the linter's configuration is changed."""

from __future__ import annotations

import grimp

ENGINE_FACE = {"pipelines", "pipelines.models"}
OTHER_DOMAINS = ("checkout", "opsconsole", "ftgo", "access", "tpfgo_site")


def lane_imports() -> set[tuple[str, str]]:
    graph = grimp.build_graph("search", "pipelines", *OTHER_DOMAINS, include_external_packages=False)
    return {
        (importer, imported)
        for importer in graph.find_descendants("search")
        for imported in graph.find_modules_directly_imported_by(importer)
    }


def test_the_lane_imports_only_the_engine_face_from_the_engine():
    engine = {(a, b) for a, b in lane_imports() if b == "pipelines" or b.startswith("pipelines.")}
    assert engine, "the lane imports the engine"
    assert {(a, b) for a, b in engine if b not in ENGINE_FACE} == set()


def test_the_lane_imports_nothing_of_another_domain():
    others = {(a, b) for a, b in lane_imports() if b.split(".")[0] in OTHER_DOMAINS}
    assert others == set()


def test_the_check_sees_an_internal_import():
    """The same reading does find an engine internal where one is imported (the engine's own test lane imports
    its declarations directly), so the empty answers above are not an empty graph."""
    graph = grimp.build_graph("tests", "pipelines", include_external_packages=False)
    imported = graph.find_modules_directly_imported_by("tests.lane.composition")
    assert "pipelines.contracts.declarations" in imported
