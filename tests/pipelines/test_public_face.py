"""The engine's public face (pipelines/__init__.py): every name it promises resolves, after every internal module
is loaded (a sub-package loaded later must not shadow a name of the face), and to the object it names."""

from __future__ import annotations

import importlib
import pkgutil

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
