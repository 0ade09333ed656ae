"""A step's own transaction on PostgreSQL: the one statement that writes its rows, in autocommit.

These tests run outside a test transaction (``transaction=True``), as production does; inside one, a step
falls back to ``atomic(durable=True)``, which is what the rest of the suite exercises.
"""

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext

from pipelines.engine.runner import Engine
from pipelines.models import CheckpointLog, ErrorSinkEntry, LineageLink
from tests.conftest import all_insert_only_counts
from tests.lane import composition as lane
from tests.lane.models import DocumentIndexed, DocumentPublished, DocumentReceived, TokenIndexed

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("the one-statement step transaction is PostgreSQL's")


def statements(captured: CaptureQueriesContext) -> list[str]:
    return [q["sql"].split()[0].upper() for q in captured.captured_queries]


def test_a_step_commits_with_its_one_statement_and_no_begin_commit_or_savepoint(lane_engine: Engine):
    with CaptureQueriesContext(connection) as captured:
        execution = lane_engine.start("ingest", {"text": "b a", "tags": ["x"]}, "doc-1")

    assert [r.status for r in execution.results] == ["inserted"] * 4  # receive, tokenize, index, publish
    kinds = statements(captured)
    # receive, index and publish write one checkpoint each: one statement, in autocommit. tokenize is a
    # split (two checkpoints that must all be new): it keeps BEGIN … COMMIT around its statement.
    assert kinds.count("WITH") == 4
    assert kinds.count("BEGIN") == 1 and kinds.count("COMMIT") == 1
    assert "SAVEPOINT" not in kinds
    assert (DocumentReceived.objects.count(), TokenIndexed.objects.count()) == (1, 2)
    assert (DocumentIndexed.objects.count(), DocumentPublished.objects.count()) == (1, 1)
    # links: tokenize 2 children × 1 parent, index 1 × 2 parents, publish 1 (a command has no parent row)
    assert (LineageLink.objects.count(), CheckpointLog.objects.count()) == (5, 5)


def test_a_replay_in_autocommit_inserts_nothing_and_needs_no_savepoint(lane_engine: Engine):
    lane_engine.start("ingest", {"text": "b a"}, "doc-1")
    received = DocumentReceived.objects.get()
    before = all_insert_only_counts()

    with CaptureQueriesContext(connection) as captured:
        execution = lane_engine.run("publish", DocumentIndexed.objects.get(), step="publish")

    assert execution.first.status == "replayed"
    assert all_insert_only_counts() == before
    assert "SAVEPOINT" not in statements(captured)
    assert received.pk == DocumentReceived.objects.get().pk


def test_a_step_that_writes_in_process_is_refused_and_nothing_is_stored(lane_engine: Engine):
    lane.FAILURES["receive"] = "write"

    execution = lane_engine.start("ingest", {"text": "a"}, "doc-1")

    assert execution.first.status == "failed"
    assert "may only read" in str(execution.first.error)
    assert Group.objects.count() == 0
    assert DocumentReceived.objects.count() == 0
    assert LineageLink.objects.count() == 0 and CheckpointLog.objects.count() == 0
    assert ErrorSinkEntry.objects.count() == 1


@pytest.mark.parametrize("prepared", [True, False])
def test_the_insert_statements_are_prepared_unless_turned_off(lane_engine: Engine, settings, prepared: bool):
    settings.TPFGO_PREPARED_STATEMENTS = prepared
    connection.close()  # a fresh connection: no statement prepared yet

    lane_engine.start("ingest", {"text": "b a"}, "doc-1")
    lane_engine.start("ingest", {"text": "c d"}, "doc-2")

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE 'WITH ins0%%'")
        [count] = cursor.fetchone()
    assert count == (4 if prepared else 0)  # one per step: the text does not depend on the item
    assert DocumentPublished.objects.count() == 2


def test_the_store_writes_and_reads_again_on_the_session_that_replaces_a_closed_one(lane_engine: Engine):
    lane_engine.start("ingest", {"text": "b a"}, "doc-1")  # the store's statements run on the session's cursor
    connection.close()

    lane_engine.start("ingest", {"text": "c d"}, "doc-2")
    replayed = lane_engine.start("ingest", {"text": "b a"}, "doc-1")

    assert DocumentPublished.objects.count() == 2
    assert replayed.first.status == "replayed"
