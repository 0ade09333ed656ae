"""The alerting rules (docs/alerts.yml) and their promtool tests (tests/run/alerts_test.yml) name only series the code
emits, with the labels it gives them: a rule or a synthetic series with a name or a label of its own would pass
promtool and never fire in production."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from prometheus_client import REGISTRY

import pipelines.recovery.sweeper
import pipelines.store.partitions
import pipelines.transport.request_metrics
import tpfgo_site.grpc_server
import tpfgo_site.worker_metrics
from pipelines.contracts.status import STATUS
from pipelines.contracts.steps import StepStatus
from pipelines.engine import metrics
from tests.pipelines.test_error_codes import declared_codes

ROOT = Path(__file__).resolve().parent.parent
ALERTS = yaml.safe_load((ROOT / "docs" / "alerts.yml").read_text(encoding="utf-8"))
RULE_TESTS = yaml.safe_load((ROOT / "tests" / "run" / "alerts_test.yml").read_text(encoding="utf-8"))
SCRAPED = {"job", "instance"}  # the labels Prometheus adds
SELECTOR = re.compile(r"\b(tpfgo_\w+|up)\b(?:\{([^}]*)\})?")
MATCHER = re.compile(r"(\w+)\s*(?:=~|!~|!=|=)")
VALUES = re.compile(r'(\w+)=~?"([\w|]+)"')
assert pipelines.recovery.sweeper and pipelines.transport.request_metrics and tpfgo_site.worker_metrics  # counted
assert pipelines.store.partitions  # counts tpfgo_partition_drop_failures_total
assert tpfgo_site.grpc_server  # describes tpfgo_grpc_serving, read at the scrape of a gRPC server's metrics port


def emitted() -> dict[str, set[str] | None]:
    """Every series name the code emits: its label names, or None for a scrape-time figure (read at the scrape)."""
    names: dict[str, set[str] | None] = {name: None for name in metrics._help}
    for collector in list(REGISTRY._collector_to_names):  # the counters and histograms, declared where counted
        name, kind = getattr(collector, "_name", ""), getattr(collector, "_type", "")
        if name.startswith("tpfgo_"):
            labels = set(collector._labelnames)
            suffixes = ("_total",) if kind == "counter" else ("_count", "_sum", "_bucket") if kind else ("",)
            names |= {name + suffix: labels | ({"le"} if suffix == "_bucket" else set()) for suffix in suffixes}
    return names


def test_every_series_a_rule_selects_is_emitted_with_the_labels_it_matches_on():
    series = emitted()
    for rule in ALERTS["groups"][0]["rules"]:
        for name, matchers in SELECTOR.findall(rule["expr"]):
            if name == "up":
                continue
            assert name in series, (rule["alert"], name)
            labels = series[name]
            if labels is not None:
                assert set(MATCHER.findall(matchers)) - SCRAPED <= labels, (rule["alert"], name, matchers)


def test_every_series_of_the_rule_tests_has_a_real_series_name_and_labels():
    series = emitted()
    for case in RULE_TESTS["tests"]:
        for given in case["input_series"]:
            name, matchers = SELECTOR.match(given["series"]).groups()  # type: ignore[union-attr]
            if name == "up":
                continue
            assert name in series, given["series"]
            labels = series[name]
            if labels is not None:
                assert set(MATCHER.findall(matchers or "")) - SCRAPED == labels, given["series"]


def given_values() -> dict[str, set[str]]:
    """The values the code gives the labels a rule (or a runbook row, tests/test_runbook_names.py) matches on."""
    return {
        "action": set(pipelines.recovery.sweeper.SweepReport().as_dict()),
        "outcome": {str(status) for status in StepStatus} | {"succeeded", "failed", "retried", "revoked", "rejected"},
        "status": set(STATUS),
        "code": declared_codes(),
    }


def test_the_values_a_rule_matches_are_values_the_code_gives():
    """A sweep action, a step outcome, a status or an error code a rule names is one the code counts."""
    given = given_values()
    for rule in ALERTS["groups"][0]["rules"]:
        for label, values in VALUES.findall(rule["expr"]):
            if label in given:
                assert set(values.split("|")) <= given[label], (rule["alert"], label, values)
