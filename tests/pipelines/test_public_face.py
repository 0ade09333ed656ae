"""The engine's public face (pipelines/__init__.py): every name it promises resolves, after every internal module
is loaded (a sub-package loaded later must not shadow a name of the face), and to the object it names."""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

import pipelines


def test_every_exported_name_resolves_to_its_source_even_after_every_module_is_loaded() -> None:
    for module in pkgutil.walk_packages(pipelines.__path__, "pipelines."):
        if ".migrations." not in module.name and ".management." not in module.name:
            importlib.import_module(module.name)
    exports = pipelines._EXPORTS
    assert sorted(exports) == sorted(pipelines.__all__)
    for name, (source, attribute) in exports.items():
        loaded = importlib.import_module(source)
        expected = loaded if attribute is None else getattr(loaded, attribute)
        assert getattr(pipelines, name) is expected, name


def test_an_unknown_name_is_an_attribute_error() -> None:
    try:
        pipelines.runner  # noqa: B018  (the runner is internal: not on the face)
    except AttributeError as exc:
        assert "runner" in str(exc)
    else:
        raise AssertionError("pipelines.runner resolved: the face leaks an internal module")


def test_the_layout_table_in_the_architecture_docs_names_every_module_and_only_names_on_the_face() -> None:
    """docs/architecture.md, "The engine's layout": each sub-package's row names exactly its modules, and every
    ``pipelines.<name>`` a domain is told to reach it through is on the face."""
    docs = Path(__file__).resolve().parents[2] / "docs" / "architecture.md"
    rows = re.findall(r"^\| `(\w+)/` \| (.*) \| (.*) \|$", docs.read_text(), re.MULTILINE)
    assert [package for package, _, _ in rows] == ["contracts", "store", "failures", "engine", "recovery", "transport"]
    for package, owns, reached_through in rows:
        folder = Path(pipelines.__path__[0]) / package
        modules = {m.name for m in pkgutil.iter_modules([str(folder)])}
        assert set(re.findall(r"`([a-z_]+)`", owns)) == modules, package
        names = re.findall(r"`pipelines\.(\w+)", reached_through)
        assert names, package
        for name in names:
            assert hasattr(pipelines, name), f"pipelines.{name} ({package}/ row)"
