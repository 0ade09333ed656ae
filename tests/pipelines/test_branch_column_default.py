"""A node of the release before ``ParkedItem.branch``, ``ErrorSinkEntry.branch`` and ``WaitOpened.branch`` inserts
rows without them while the schema is migrated under it (docs/operations.md, "Upgrading"): the database fills in the
main branch. Before, the columns had no database default, so such a node's every failure was a NOT NULL violation
(the dashboard bench, which writes its rows the same way, failed on it)."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection
from django.utils import timezone

from pipelines.models import MAIN_BRANCH, ErrorSinkEntry, ParkedItem, WaitOpened

pytestmark = pytest.mark.django_db


def insert_without_branch(model, values: dict) -> None:
    """An INSERT naming every column but ``branch``, as the release before it wrote one."""
    fields = [f for f in model._meta.concrete_fields if f.name != "branch"]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    marks = ", ".join(["%s"] * len(fields))
    params = [f.get_db_prep_save(values[f.name], connection) for f in fields]
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {model._meta.db_table} ({columns}) VALUES ({marks})", params)


def test_rows_inserted_without_the_branch_are_on_the_main_branch():
    now = timezone.now()
    common = {"pipeline": "p", "step": "s", "item_type": "T", "item_id": uuid.uuid4(), "trace_id": uuid.uuid4()}
    parked_id, entry_id = uuid.uuid4(), uuid.uuid4()
    insert_without_branch(
        ParkedItem,
        {**common, "id": parked_id, "idempotency_key": "k", "event": None, "command": None, "merge_ids": None,
         "created_at": now},
    )  # fmt: skip
    insert_without_branch(
        ErrorSinkEntry,
        {**common, "id": entry_id, "error_class": "E", "error_code": "UNEXPECTED", "retryable": True, "message": "m",
         "traceback": "t", "payload": {}, "attempt": 1, "source": ErrorSinkEntry.LOCAL, "created_at": now},
    )  # fmt: skip

    wait_id = uuid.uuid4()
    insert_without_branch(
        WaitOpened, {**common, "id": wait_id, "idempotency_key": "k", "opened_at": now, "due_at": now}
    )

    assert ParkedItem.objects.get(pk=parked_id).branch == MAIN_BRANCH
    assert ErrorSinkEntry.objects.get(pk=entry_id).branch == MAIN_BRANCH
    assert WaitOpened.objects.get(pk=wait_id).branch == MAIN_BRANCH
    assert (ParkedItem.objects.count(), ErrorSinkEntry.objects.count(), WaitOpened.objects.count()) == (1, 1, 1)
