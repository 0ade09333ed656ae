"""The engine's modules import one another without a circle: not between packages (the layers contract in
pyproject.toml says that), and not between two modules of one package either."""

from __future__ import annotations

import grimp


def module_cycles(package: str) -> list[tuple[str, str]]:
    graph = grimp.build_graph(package, include_external_packages=False)
    return sorted(
        (importer, imported)
        for importer in graph.modules
        for imported in graph.find_modules_directly_imported_by(importer)
        if graph.find_shortest_chain(importer=imported, imported=importer) is not None
    )


def test_no_module_of_the_engine_is_part_of_an_import_circle():
    assert module_cycles("pipelines") == []
