"""Rows prepared by the store's fast paths (``pipelines.store.fast``) are what the ORM would send, short cuts too."""

import datetime
import decimal
import uuid

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from checkout.consumer_verified.models import ConsumerVerified
from pipelines.store import fast
from pipelines.store.fast import instantiate
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
    table = fast.table(DocumentReceived, connection)

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
    table = fast.table(DocumentReceived, connection)

    expected = tuple(f.get_db_prep_save(getattr(row, f.attname), connection) for f in table.fields)
    assert table.values(row, connection) == expected
    assert table.values(row, connection)[table.index("contract_version")] == 2


@pytest.mark.parametrize("total", [decimal.Decimal("12.50"), decimal.Decimal("0"), "3.1", 2.5, 7])
def test_decimals_are_prepared_as_the_orm_prepares_them(total):
    row = ConsumerVerified(
        id=uuid.uuid4(),
        trace_id=uuid.uuid4(),
        idempotency_key="k",
        business_key="b",
        contract_name="ConsumerVerified",
        contract_version=1,
        created_at=TIMES[0],
        order_id=uuid.uuid4(),
        consumer_id="alice",
        order_total=total,
    )
    table = fast.table(ConsumerVerified, connection)

    expected = tuple(f.get_db_prep_save(getattr(row, f.attname), connection) for f in table.fields)
    got = table.values(row, connection)
    assert got == expected
    at = table.index("order_total")
    assert type(got[at]) is type(expected[at])


def test_a_decimal_that_is_not_finite_is_refused_as_the_orm_refuses_it():
    row = ConsumerVerified(order_total=decimal.Decimal("NaN"), created_at=TIMES[0], order_id=uuid.uuid4())
    table = fast.table(ConsumerVerified, connection)
    with pytest.raises(ValidationError):
        table.values(row, connection)


def test_a_remembered_time_is_the_time_of_the_row_at_hand():
    table = fast.table(DocumentReceived, connection)
    at = table.index("created_at")
    for created_at in [TIMES[0], TIMES[0], TIMES[1], TIMES[0], TIMES[2], TIMES[2]]:
        row = instantiate(DocumentReceived, {"doc_id": uuid.uuid4(), "text": "t", "created_at": created_at})
        expected = DocumentReceived._meta.get_field("created_at").get_db_prep_save(created_at, connection)
        assert table.values(row, connection)[at] == expected
