"""Rows prepared by ``sqlbulk`` are what the ORM would send, short cuts included."""

import datetime
import uuid

import pytest
from django.db import connection

from pipelines import sqlbulk
from pipelines.runner import instantiate
from tests.lane.models import DocumentReceived

pytestmark = pytest.mark.django_db

TIMES = [
    datetime.datetime(2026, 11, 26, 10, 0, 0, 123456, tzinfo=datetime.UTC),
    datetime.datetime(2026, 11, 26, 10, 0, 0, tzinfo=datetime.UTC),  # no microseconds
    datetime.datetime(2026, 11, 26, 12, 0, 0, tzinfo=datetime.timezone(datetime.timedelta(hours=2))),
]


@pytest.mark.parametrize("created_at", TIMES)
def test_values_match_the_orms_preparation(created_at):
    row = DocumentReceived(
        id=uuid.uuid4(),
        trace_id=uuid.uuid4(),
        idempotency_key="doc-1",
        business_key="k",
        contract_name="DocumentReceived",
        contract_version=1,
        created_at=created_at,
        doc_id=uuid.uuid4(),
        text="a b",
    )
    table = sqlbulk.table(DocumentReceived, connection)

    expected = tuple(f.get_db_prep_save(getattr(row, f.attname), connection) for f in table.fields)
    assert table.values(row, connection) == expected


def test_instantiate_gives_the_constructors_instance():
    fields = {"doc_id": uuid.uuid4(), "text": "a b"}
    fast, slow = instantiate(DocumentReceived, fields), DocumentReceived(**fields)

    assert {f.attname: getattr(fast, f.attname) for f in DocumentReceived._meta.concrete_fields} == {
        f.attname: getattr(slow, f.attname) for f in DocumentReceived._meta.concrete_fields
    }
    assert fast._state.adding and fast._state.db is None
    # Anything but attnames (a related object by name, an unknown keyword) takes the constructor.
    with pytest.raises(TypeError):
        instantiate(DocumentReceived, {"no_such_field": 1})


def test_values_of_other_types_take_the_orms_preparation():
    """The generated row builder short-cuts exact types only: a UUID given as text, a number given as text
    and a time in another zone are prepared by the field, as the ORM would."""
    row = DocumentReceived(
        id=str(uuid.uuid4()),
        trace_id=uuid.uuid4(),
        idempotency_key="doc-2",
        business_key="k",
        contract_name="DocumentReceived",
        contract_version="2",
        created_at=TIMES[2],
        doc_id=str(uuid.uuid4()).upper(),
        text=None,
    )
    table = sqlbulk.table(DocumentReceived, connection)

    expected = tuple(f.get_db_prep_save(getattr(row, f.attname), connection) for f in table.fields)
    assert table.values(row, connection) == expected
    assert table.values(row, connection)[table.index("contract_version")] == 2
