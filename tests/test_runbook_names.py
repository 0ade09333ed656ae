"""What the runbooks (docs/*.md: the tables whose first column is a failure signature) tell an operator to look
for or to run exists: every log event a row cites is one the code logs, every alert the docs name is a rule of
docs/alerts.yml, and every `manage.py` command and flag the docs give is one the command takes. A renamed event,
alert or flag would otherwise leave the runbook sending someone paged at night after a line that never comes."""

from __future__ import annotations

import ast
import importlib.util
import re
from pathlib import Path

import yaml
from django.core.management import get_commands, load_command_class

from pipelines.engine.registry import composition
from tpfgo_site.celery import app

ROOT = Path(__file__).resolve().parent.parent
PAGES = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]
PRODUCT = ("pipelines", "checkout", "ftgo", "opsconsole", "tpfgo_site", "access", "search")
LEVELS = {"debug", "info", "warning", "error", "exception", "critical"}
# A runbook table: its header's first cell names the failure signature; a "### Runbook:" table's first row does.
RUNBOOK_HEAD = re.compile(r"^\| (?:signature|failure signature) \||^\| step \| what \|$")
DOTTED = re.compile(r"`([a-z_]+\.[a-z_]+)`")
LOGGED = re.compile(r"\blog `([a-z_]+\.[a-z_]+)`((?:(?:,| or| and| /|, or) `[a-z_]+\.[a-z_]+`)*)")
COMMAND = re.compile(r"manage\.py ([a-z_]+)((?:[^`|\n#)]|\\\n)*)")
FLAG = re.compile(r"(?<![\w-])(--[a-z][a-z-]*)")


def runbook_rows(text: str) -> list[str]:
    rows, inside = [], False
    for line in text.splitlines():
        if RUNBOOK_HEAD.match(line):
            inside = True
        elif inside and line.startswith("| "):
            if not line.startswith("| ---"):
                rows.append(line)
        else:
            inside = False
    return rows


def logged_events() -> set[str]:
    """The event names the product logs: a logger call's first argument, and bin/run's own `say LEVEL event`."""
    events: set[str] = set()
    for package in PRODUCT:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args:
                    first = node.args[0]
                    if node.func.attr in LEVELS and isinstance(first, ast.Constant) and isinstance(first.value, str):
                        events.add(first.value)
    events |= set(re.findall(r"\bsay \w+ ([a-z_]+\.[a-z_]+)", (ROOT / "bin" / "run").read_text(encoding="utf-8")))
    return events


def other_names() -> set[str]:
    """Dotted names a row may cite that are no log event: Celery tasks, pipeline steps, span attributes."""
    app.loader.import_default_modules()
    steps = {f"{p.name}.{s.name}" for p in composition().pipelines for s in p.steps}
    tracing = (ROOT / "pipelines" / "engine" / "tracing.py").read_text(encoding="utf-8")
    return set(app.tasks) | steps | set(re.findall(r'"(tpfgo\.[a-z_]+)"', tracing)) | {"manage.py"}


def cited_in_runbooks() -> tuple[set[str], set[str]]:
    """Every dotted name of a runbook row, and those it cites as a log line (``log `event```)."""
    dotted, logged = set(), set()
    for page in PAGES:
        for row in runbook_rows(page.read_text(encoding="utf-8")):
            dotted |= set(DOTTED.findall(row))
            for first, more in LOGGED.findall(row):
                logged |= {first, *DOTTED.findall(more)}
    return dotted, logged


def test_the_scan_reads_the_runbook_rows_and_the_events_they_cite_as_log_lines():
    text = "| signature | meaning | action |\n| --- | --- | --- |\n| log `a.b` or `c.d`; `e.f` | x | y |\nafter\n| x |"
    assert runbook_rows(text) == ["| log `a.b` or `c.d`; `e.f` | x | y |"]
    assert LOGGED.findall(runbook_rows(text)[0]) == [("a.b", " or `c.d`")]


def test_every_event_a_runbook_cites_as_a_log_line_is_one_the_code_logs():
    _, logged = cited_in_runbooks()
    assert len(logged) > 30  # the scan found the rows
    assert sorted(logged - logged_events()) == []


def test_every_dotted_name_of_a_runbook_row_is_an_event_a_task_a_step_a_module_or_a_span_attribute():
    dotted, _ = cited_in_runbooks()
    known = logged_events() | other_names()
    assert sorted(name for name in dotted - known if not is_module(name)) == []


def is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:  # its package does not exist either
        return False


def test_every_alert_the_docs_name_is_a_rule_of_the_alerts_file():
    rules = {
        rule["alert"]
        for group in yaml.safe_load((ROOT / "docs" / "alerts.yml").read_text())["groups"]
        for rule in group["rules"]
    }
    named = {name for page in PAGES for name in re.findall(r"\bTPFGo[A-Z]\w+", page.read_text(encoding="utf-8"))}
    assert len(rules) == 17 and sorted(named - rules) == []


def test_every_manage_py_command_and_flag_the_docs_give_is_one_the_command_takes():
    commands = get_commands()
    wrong = []
    for page in PAGES:
        for name, rest in COMMAND.findall(page.read_text(encoding="utf-8")):
            if name not in commands:
                wrong.append(f"{page.name}: manage.py {name}")
                continue
            parser = load_command_class(commands[name], name).create_parser("manage.py", name)
            flags = {flag for action in parser._actions for flag in action.option_strings}
            wrong += [f"{page.name}: manage.py {name} {flag}" for flag in FLAG.findall(rest) if flag not in flags]
    assert wrong == []


def test_every_console_page_the_docs_name_is_one_the_console_serves():
    from django.urls import Resolver404, resolve

    named = {path for page in PAGES for path in re.findall(r"`(/ops/[^` ]*)`", page.read_text(encoding="utf-8"))}
    unserved = []
    for path in sorted(named):
        try:
            match = resolve(path.replace("<id>", "00000000-0000-0000-0000-000000000000"))
        except Resolver404:
            match = None
        if match is None or match.url_name is None:  # the admin's catch-all answers any other path, with a 404
            unserved.append(path)
    assert len(named) >= 5 and unserved == []


def test_every_series_a_runbook_row_selects_is_emitted_with_the_labels_it_matches_on():
    """As tests/test_alert_series.py does for the rules: a row's `tpfgo_…{label="…"}` is a series the code
    emits with those labels (the owner's SQL functions, `tpfgo_partition_…`, are no series)."""
    import pipelines.engine.stream_gauges
    import pipelines.transport.subscription_follow
    import pipelines.transport.subscriptions
    from pipelines.store import partition_functions
    from tests.test_alert_series import MATCHER, SCRAPED, SELECTOR, emitted

    # their series are described
    assert pipelines.engine.stream_gauges and pipelines.transport.subscriptions
    assert pipelines.transport.subscription_follow
    series, functions = emitted(), {partition_functions.CREATE, partition_functions.LOCK, partition_functions.DROP}
    wrong, selected = [], 0
    for page in PAGES:
        for row in runbook_rows(page.read_text(encoding="utf-8")):
            for name, matchers in SELECTOR.findall(row):
                if name in functions or name in ("up", "tpfgo_site"):
                    continue
                selected += 1
                labels = series.get(name, set())
                matched = set(MATCHER.findall(matchers)) - SCRAPED
                if name not in series or (labels is not None and not matched <= labels):
                    wrong.append(f"{page.name}: {name}{{{matchers}}}")
    assert selected > 20 and wrong == []


def test_the_values_a_runbook_row_matches_are_values_the_code_gives():
    """A pipeline, a step, an outcome, a sweep action, a status or an error code a row selects a series by is one
    the code counts (``X``: the row's placeholder for any pipeline)."""
    from tests.test_alert_series import VALUES, given_values

    given = given_values()
    given["pipeline"] = {p.name for p in composition().pipelines} | {"X"}
    given["step"] = {s.name for p in composition().pipelines for s in p.steps}
    wrong = [
        (page.name, label, values)
        for page in PAGES
        for row in runbook_rows(page.read_text(encoding="utf-8"))
        for label, values in VALUES.findall(row)
        if label in given and not set(values.split("|")) <= given[label]
    ]
    assert wrong == []
