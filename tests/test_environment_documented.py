"""Every environment variable the code reads has a row in the README's table, and every row is read somewhere."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("pipelines", "checkout", "opsconsole", "tpfgo_site", "access", "search", "ftgo", "bench")
SCRIPTS = ("manage.py", "bin/run", "bin/protos", "bin/node", "bin/cluster", ".ci/run", "Procfile")
TEST_SETTINGS = ("tests/settings_worker.py", "tests/settings_broken.py")  # what the suite's processes read
NAME = r"""["']([A-Z][A-Z0-9_]*)["']"""
PYTHON_READS = [
    re.compile(rf"os\.environ\.get\(\s*{NAME}"),
    re.compile(rf"\benviron\.get\(\s*{NAME}"),  # a mapping passed in for os.environ (pipelines/engine/tracing.py)
    re.compile(rf"os\.environ\[\s*{NAME}\s*\]"),
    re.compile(rf"os\.getenv\(\s*{NAME}"),
    re.compile(rf"{NAME}\s+in\s+os\.environ"),
    re.compile(rf"env_bool\(\s*{NAME}"),
]
SHELL_READS = [re.compile(r"\$\{([A-Z][A-Z0-9_]*):-")]  # ${NAME:-default}: a variable the script takes from outside
TABLE_ROW = re.compile(r"^\| `([A-Z][A-Z0-9_]*)` \|", re.MULTILINE)


def read_by_the_code() -> dict[str, set[str]]:
    where: dict[str, set[str]] = {}
    files = [p for package in PACKAGES for p in (ROOT / package).rglob("*.py") if "migrations" not in p.parts]
    for path in [*files, *(ROOT / name for name in (*SCRIPTS, *TEST_SETTINGS))]:
        text = path.read_text(encoding="utf-8")
        patterns = PYTHON_READS if path.suffix == ".py" else SHELL_READS
        for pattern in patterns:
            for name in pattern.findall(text):
                where.setdefault(name, set()).add(str(path.relative_to(ROOT)))
    return where


def documented() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = readme.split("## Environment variables", 1)[1].split("\n## ", 1)[0]
    return TABLE_ROW.findall(table)


def test_the_scan_finds_the_variables_it_must():
    read = read_by_the_code()
    # One of each kind of read, so a broken pattern cannot pass silently.
    assert {"DATABASE_URL", "TEST_DATABASE_NAME", "DJANGO_DEBUG", "PORT", "GRPC_PORT", "WEB_THREADS"} <= set(read)


def test_every_variable_the_code_reads_is_in_the_readme_table():
    read = read_by_the_code()
    missing = {name: sorted(files) for name, files in read.items() if name not in documented()}
    assert missing == {}


def test_the_readme_table_lists_each_variable_once_and_only_variables_the_code_reads():
    rows = documented()
    assert len(rows) == len(set(rows))
    assert sorted(set(rows) - set(read_by_the_code())) == []
