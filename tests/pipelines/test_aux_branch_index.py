"""The aux-branch sweeper pass reads the log through a partial index per step with an optional branch (PostgreSQL),
so its cost follows that step's rows in the window, not every row of the window."""

from __future__ import annotations

import dataclasses
import datetime

import pytest
from django.db import connection
from django.utils import timezone

from pipelines.engine.registry import composition
from pipelines.recovery import aux_branches

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _postgres() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the partial indexes are PostgreSQL's; SQLite reads the window as before")


def optional_steps() -> list[tuple[str, str]]:
    return [(spec, step) for _, spec, step, _, _ in aux_branches._optional(composition())]


def parent_indexes() -> dict[str, str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'pipelines_checkpointlog' "
            "AND indexname LIKE 'tpfgo\\_aux\\_%'"
        )
        return dict(cursor.fetchall())


def partition_indexes(parent: str) -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = %s::regclass",
            [parent],
        )
        return {name for (name,) in cursor.fetchall()}


def test_migrate_gives_each_step_with_an_optional_branch_its_partial_index_on_every_partition():
    steps = optional_steps()
    assert steps == [("ranking", "results_ranked")]  # the search lane's analytics; the checkout chain has none
    indexes = parent_indexes()
    name = aux_branches.index_name("ranking", "results_ranked")
    assert list(indexes) == [name]
    assert "WHERE (((pipeline)::text = 'ranking'::text) AND ((step)::text = 'results_ranked'::text))" in indexes[name]
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_inherits WHERE inhparent = 'pipelines_checkpointlog'::regclass")
        (partitions,) = cursor.fetchone()
    assert partitions > 1 and len(partition_indexes(name)) == partitions


def test_the_pass_query_can_read_through_the_partial_index():
    now = timezone.now()
    comp = composition()
    side, spec, step, primary, branch = next(aux_branches._optional(comp))
    rows = aux_branches.unwritten(side, spec, step, primary, branch, now, now - datetime.timedelta(days=1))
    sql, params = rows.query.sql_with_params()
    children = partition_indexes(aux_branches.index_name(spec, step))
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(line for (line,) in cursor.fetchall())
    assert any(f" {name} " in plan for name in children), plan  # not the whole log's created_at index


def test_a_step_the_composition_no_longer_has_loses_its_index_and_gets_it_back():
    comp = composition()
    name = aux_branches.index_name("ranking", "results_ranked")
    without = dataclasses.replace(comp, pipelines=tuple(p for p in comp.pipelines if p.name != "ranking"))

    assert aux_branches.install_indexes(connection, without) == []
    assert parent_indexes() == {}
    assert aux_branches.install_indexes(connection, comp) == [name]
    assert list(parent_indexes()) == [name]
