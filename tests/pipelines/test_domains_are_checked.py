"""Every domain the site installs is held to the engine's public face and type-checked: a new lane that follows
docs/lanes.md and forgets to list its package is not silently left out of `make lint`."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from django.apps import apps

ROOT = Path(__file__).resolve().parents[2]
FACE_CONTRACT = "domains use the engine's public face, not its internals"


def installed_domains() -> set[str]:
    """The repository's own top-level packages that hold installed apps, but the engine (and the tests' own)."""
    packages = {config.name.split(".")[0] for config in apps.get_app_configs()}
    return {p for p in packages if (ROOT / p / "__init__.py").is_file()} - {"pipelines", "tests"}


def import_linter() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]


def test_the_reading_finds_the_shipped_domains():
    assert {"checkout", "search", "opsconsole", "ftgo", "access"} <= installed_domains()


def test_every_installed_domain_is_held_to_the_engine_face_by_import_linter():
    linter = import_linter()
    [face] = [c for c in linter["contracts"] if c["name"] == FACE_CONTRACT]
    assert installed_domains() - set(linter["root_packages"]) == set()
    assert installed_domains() - set(face["source_modules"]) == set()


def test_every_installed_domain_is_type_checked_by_make_lint():
    [packages] = re.findall(r"^MYPY_PACKAGES := (.*)$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert installed_domains() - set(packages.split()) == set()
