"""The project stands alone: every file that code, templates or docs cite is in the repository."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SKIPPED_DIRS = {
    ".git",
    ".venv",
    ".venv-bench",
    "site",
    "var",
    "node_modules",
    "test-artifacts",
    "__pycache__",
    ".mypy_cache",
}
URL = re.compile(r"[a-z][a-z0-9+.-]*://\S+")
# A document cited anywhere: ``docs/api.md``, ``operations.md#runbook``, a bare ``README.md``.
CITED_DOC = re.compile(r"(?<![\w./-])([\w./-]*\w\.md)\b")
# A source file a document names by its path: ``checkout/state.py``, ``checkout/protos/orders.proto``.
CITED_PATH = re.compile(r"(?<![\w./-])((?:[\w.-]+/)+[\w.-]+\.(?:py|proto|html|json|yml|toml|md))\b")


def files(*suffixes: str) -> Iterator[Path]:
    for path in ROOT.rglob("*"):
        if path.suffix in suffixes and path.is_file() and not SKIPPED_DIRS & set(path.relative_to(ROOT).parts):
            yield path


def resolves(cited: str, where: Path, doc_names: set[str]) -> bool:
    if "/" not in cited:
        return cited in doc_names
    return (where.parent / cited).exists() or (ROOT / cited).exists()


def missing_citations(text: str, where: Path, doc_names: set[str], pattern: re.Pattern[str]) -> list[str]:
    text = URL.sub(" ", text)
    return sorted({c for c in pattern.findall(text) if not resolves(c, where, doc_names)})


def doc_names() -> set[str]:
    return {path.name for path in files(".md")}


def test_the_scan_finds_a_missing_document_and_accepts_a_present_one():
    names = doc_names()
    here = ROOT / "checkout" / "state.py"
    gone = "CHAIN" + ".md"  # spelled in two parts so this file does not cite it
    text = f"see {gone}, docs/api.md#errors, README.md and https://example.com/{gone}"

    assert missing_citations(text, here, names, CITED_DOC) == [gone]
    gone_page = "docs/gone" + ".md"
    assert missing_citations(f"docs/chain.md and {gone_page}", ROOT / "docs" / "index.md", names, CITED_DOC) == [
        gone_page
    ]
    assert missing_citations("`checkout/state.py`, `checkout/gone.py`", here, names, CITED_PATH) == ["checkout/gone.py"]
    assert {"api.md", "chain.md", "README.md"} <= names


def test_every_document_cited_by_code_templates_or_docs_is_in_the_repository():
    names = doc_names()
    missing = {}
    for path in files(".py", ".md", ".html", ".proto", ".txt", ".toml", ".yml"):
        found = missing_citations(path.read_text(encoding="utf-8"), path, names, CITED_DOC)
        if found:
            missing[str(path.relative_to(ROOT))] = found
    assert missing == {}


def test_every_source_path_a_document_names_is_in_the_repository():
    names = doc_names()
    missing = {}
    for path in files(".md"):
        found = missing_citations(path.read_text(encoding="utf-8"), path, names, CITED_PATH)
        if found:
            missing[str(path.relative_to(ROOT))] = found
    assert missing == {}
