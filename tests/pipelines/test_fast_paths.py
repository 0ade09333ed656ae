"""The store's fast paths (``pipelines/store/fast.py`` and the vendor halves) write exactly the rows the ORM writes
and read back the instances the ORM reads, for every checkpoint model of the composition and its owned child rows.

Each model gets one instance with a value in every column, built twice from the same field values: once the
fast way (``fast.instantiate``, a prepared row, the vendor's batch insert), once the ORM's way (the constructor,
``save()`` / ``bulk_create``). Each is written inside a savepoint that is then rolled back, and the stored row is
read with plain SQL as text (and, on SQLite, each value's storage class): the two rows must be equal column
by column. Runs on the
test database's vendor (the PostgreSQL suite runs it on PostgreSQL).
"""

from __future__ import annotations

import datetime
import decimal
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.db import DataError, connection, models, transaction

from pipelines.engine.registry import checkpoint_models
from pipelines.engine.runner import Engine
from pipelines.models import Checkpoint, CheckpointChild, CheckpointLog, LineageLink, Trace
from pipelines.store import fast, lookups, postgres, vendor
from pipelines.store.rows import Dependent
from tests.lane import composition as lane

pytestmark = pytest.mark.django_db

TIMES = [
    datetime.datetime(2026, 11, 26, 10, 0, 0, 123456, tzinfo=datetime.UTC),
    datetime.datetime(2026, 11, 26, 10, 0, 0, tzinfo=datetime.UTC),  # no microseconds: another text on SQLite
]


class _Rollback(Exception):
    pass


def value_for(field: models.Field[Any, Any], n: int, now: datetime.datetime) -> Any:
    """A value the field accepts, different per field (``n``), in the type a step would give."""
    if field.choices:
        return next(iter(field.flatchoices))[0]
    if isinstance(field, models.UUIDField):
        return uuid.uuid4()
    if isinstance(field, models.BooleanField):
        return n % 2 == 0
    if isinstance(field, models.IntegerField):
        return 40 + n
    if isinstance(field, models.DecimalField):
        return decimal.Decimal(f"{n}.25")
    if isinstance(field, models.DateTimeField):
        return now + datetime.timedelta(minutes=n)
    if isinstance(field, models.JSONField):
        return {"n": n, "items": [{"sku": "a-1", "qty": 2}], "note": "é"}
    if isinstance(field, (models.CharField, models.TextField)):
        size = field.max_length or 40
        return f"v{n}-text"[:size]
    raise AssertionError(f"no sample value for {type(field).__name__} {field.name}: add one")


def sample_fields(model: type[models.Model], now: datetime.datetime, **given: Any) -> dict[str, Any]:
    fields = {}
    for n, field in enumerate(model._meta.concrete_fields):
        if isinstance(field, models.AutoField):
            continue
        fields[field.attname] = given[field.attname] if field.attname in given else value_for(field, n, now)
    if "created_at" in fields:
        fields["created_at"] = now  # the step's clock: the same instant for every row a step writes
    return fields


def stored_row(model: type[models.Model], pk: Any) -> tuple[Any, ...]:
    """The stored row of ``model`` with ``pk``, every column but a generated key, read with plain SQL."""
    # A generated key differs between two inserts; a child row is found by its owner's id instead.
    qn = connection.ops.quote_name
    columns = [f for f in model._meta.concrete_fields if not isinstance(f, models.AutoField)]
    key = model._meta.pk if not isinstance(model._meta.pk, models.AutoField) else _owner_field(model)
    # As the database holds them: text (no driver or Django converter in between), and SQLite's storage class.
    selected = [f"CAST({qn(f.column)} AS TEXT)" for f in columns]
    if connection.vendor == "sqlite":
        selected += [f"typeof({qn(f.column)})" for f in columns]
    sql = f"SELECT {', '.join(selected)} FROM {qn(model._meta.db_table)} WHERE {qn(key.column)} = %s"
    with connection.cursor() as cursor:
        cursor.execute(sql, [key.get_db_prep_value(pk, connection)])
        rows = cursor.fetchall()
    assert len(rows) == 1, f"{model.__name__}: {len(rows)} rows"
    return tuple(rows[0])


def _owner_field(model: type[models.Model]) -> models.Field[Any, Any]:
    return next(f for f in model._meta.concrete_fields if f.is_relation)


def written(write: Callable[[], Any], model: type[models.Model], pk: Any) -> tuple[Any, ...]:
    """The row ``write()`` stores, read inside a savepoint that is rolled back afterwards."""
    found: tuple[Any, ...] = ()
    try:
        with transaction.atomic():
            write()
            found = stored_row(model, pk)
            raise _Rollback
    except _Rollback:
        pass
    return found


def comparable(row: tuple[Any, ...]) -> list[tuple[type[Any], Any]]:
    return [(type(value), value) for value in row]


def fast_insert(rows: list[models.Model], children: list[models.Model] | None = None) -> set[Any]:
    """The vendor half's batch insert, exactly as the store's write path calls it."""
    table = fast.table(type(rows[0]), connection)
    dependents = []
    if children:
        child_table = fast.table(type(children[0]), connection)
        key = fast.owner_column(type(children[0]), type(rows[0]))
        dependents.append(Dependent(child_table, key, [child_table.values(c, connection) for c in children]))
    return vendor.insert_batch(connection, {table: [table.values(r, connection) for r in rows]}, dependents)


def owned_children() -> dict[type[Checkpoint], list[type[CheckpointChild]]]:
    out: dict[type[Checkpoint], list[type[CheckpointChild]]] = {}
    for model in checkpoint_models().values():
        for related in model._meta.related_objects:
            if issubclass(related.related_model, CheckpointChild):
                out.setdefault(model, []).append(related.related_model)
    return out


MODELS = sorted(checkpoint_models().values(), key=lambda m: m.__name__)


def test_the_composition_has_checkpoint_models_and_owned_children() -> None:
    assert len(MODELS) == 47  # checkout 41, the search lane 6 (its optional aux QueryLogged included)
    assert {m.__name__: [c.__name__ for c in cs] for m, cs in owned_children().items()} == {
        "OrderRequest": ["LineItem"]
    }


@pytest.mark.parametrize("now", TIMES, ids=["microseconds", "whole-second"])
@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_the_fast_write_stores_the_row_the_orm_stores(model: type[Checkpoint], now: datetime.datetime) -> None:
    fields = sample_fields(model, now)

    fast_row = fast.instantiate(model, fields)
    by_fast = written(lambda: fast_insert([fast_row]), model, fields["id"])
    by_save = written(lambda: model(**fields).save(), model, fields["id"])
    by_bulk = written(lambda: model.objects.bulk_create([model(**fields)]), model, fields["id"])

    columns = len([f for f in model._meta.concrete_fields if not isinstance(f, models.AutoField)])
    assert len(by_fast) == columns * (2 if connection.vendor == "sqlite" else 1)
    assert comparable(by_fast) == comparable(by_save)
    assert comparable(by_fast) == comparable(by_bulk)


@pytest.mark.parametrize("writer", ["arrays", "copy"])
@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_a_batch_large_enough_for_arrays_stores_the_rows_the_orm_stores(
    model: type[Checkpoint], writer: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past a few rows the PostgreSQL half sends one (binary) array per column instead of listing the rows, and a
    batch goes in by binary COPY: the same rows as the ORM's, every column, for every row of the batch (the first
    and the last compared)."""
    if writer == "copy" and connection.vendor != "postgresql":
        pytest.skip("COPY is PostgreSQL's")
    monkeypatch.setattr(postgres, "COPY_ROWS", 0 if writer == "copy" else 10**9)
    copied: list[Any] = []
    original = postgres._copy
    monkeypatch.setattr(postgres, "_copy", lambda *args: copied.append(original(*args)) or copied[-1])
    count = postgres._VALUES_ROWS + 1
    batch = [sample_fields(model, TIMES[n % 2]) for n in range(count)]
    for n, fields in enumerate(batch):
        for field in model._meta.concrete_fields:
            if field.null and not field.primary_key and n == count - 1:
                fields[field.attname] = None  # a NULL inside an array, in every nullable column
            elif isinstance(field, models.CharField | models.TextField) and not field.choices:
                fields[field.attname] = f"r{n}{fields[field.attname]}"[: field.max_length]  # unique columns
            elif isinstance(field, models.IntegerField) and not isinstance(field, models.AutoField):
                fields[field.attname] += n
    rows = [fast.instantiate(model, fields) for fields in batch]
    prepared = {r.pk if connection.vendor == "postgresql" else r.pk.hex for r in rows}

    for fields in (batch[0], batch[-1]):

        def fast_write() -> None:
            assert fast_insert(rows) == prepared

        by_fast = written(fast_write, model, fields["id"])
        by_orm = written(lambda f=fields: model.objects.bulk_create([model(**f)]), model, fields["id"])
        assert by_fast
        assert comparable(by_fast) == comparable(by_orm)
    assert copied == ([prepared, prepared] if writer == "copy" else [])


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_the_fast_read_gives_the_instance_the_orm_gives(model: type[Checkpoint]) -> None:
    fields = sample_fields(model, TIMES[0])
    fast_insert([fast.instantiate(model, fields)])

    by_orm = model.objects.get(pk=fields["id"])
    (by_fast,) = lookups.rows(model, pk=fields["id"])

    assert by_fast.__dict__.keys() == by_orm.__dict__.keys()  # every field loaded: none left to a deferred load
    for field in model._meta.concrete_fields:
        mine, theirs = getattr(by_fast, field.attname), getattr(by_orm, field.attname)
        assert (type(mine), mine) == (type(theirs), theirs), field.attname
    assert by_fast._state.adding is False and by_fast._state.db == by_orm._state.db


CHILDREN = [(owner, child) for owner, children in owned_children().items() for child in children]


@pytest.mark.parametrize(("owner", "child"), CHILDREN, ids=lambda m: m.__name__)
def test_owned_child_rows_written_fast_are_the_rows_the_orm_writes(
    owner: type[Checkpoint], child: type[CheckpointChild]
) -> None:
    owner_fields = sample_fields(owner, TIMES[0])
    owner_row = fast.instantiate(owner, owner_fields)
    child_fields = sample_fields(child, TIMES[0], **{fast.owner_column(child, owner): owner_fields["id"]})
    prepared_id = owner_row.pk if connection.vendor == "postgresql" else owner_row.pk.hex

    def fast_write() -> None:
        assert fast_insert([owner_row], [fast.instantiate(child, child_fields)]) == {prepared_id}

    def orm_write() -> None:
        owner.objects.bulk_create([owner(**owner_fields)])
        child.objects.bulk_create([child(**child_fields)])

    by_fast = written(fast_write, child, owner_fields["id"])
    by_orm = written(orm_write, child, owner_fields["id"])
    assert by_fast
    assert comparable(by_fast) == comparable(by_orm)


@pytest.mark.parametrize("model", [CheckpointLog, LineageLink], ids=lambda m: m.__name__)
def test_log_rows_and_links_written_by_the_write_path_are_the_rows_the_orm_writes(model: type[models.Model]) -> None:
    """The engine's own rows (``pipelines.store.writes``: the trace's number and creation time carried from the
    trace in hand) against the ORM's insert of the same values; a copy gets another trace number (the edge is
    unique), compared apart from it."""
    Engine(lane.COMPOSITION).start("ingest", {"text": "alpha beta"}, "doc-1")
    (started,) = Trace.objects.values_list("created_at", flat=True)
    key = model._meta.pk
    columns = [f for f in model._meta.concrete_fields if f is not key]
    at = [f.attname for f in columns].index("trace_number")
    rows = list(model.objects.all())
    assert len(rows) == 5
    for row in rows:
        assert row.trace_created_at == started  # type: ignore[attr-defined]
        fields = {f.attname: getattr(row, f.attname) for f in columns}
        by_engine = stored_by_key(model, getattr(row, key.attname), columns)
        copy = written_returning(lambda f=fields: model.objects.create(**{**f, "trace_number": 10**12}), model, columns)
        assert comparable(by_engine[:at] + by_engine[at + 1 :]) == comparable(copy[:at] + copy[at + 1 :])


def stored_by_key(model: type[models.Model], pk: Any, columns: list[models.Field[Any, Any]]) -> tuple[Any, ...]:
    """``columns`` of the row with primary key ``pk``, as the database holds them (``stored_row``)."""
    qn = connection.ops.quote_name
    selected = [f"CAST({qn(f.column)} AS TEXT)" for f in columns]
    if connection.vendor == "sqlite":
        selected += [f"typeof({qn(f.column)})" for f in columns]
    sql = f"SELECT {', '.join(selected)} FROM {qn(model._meta.db_table)} WHERE {qn(model._meta.pk.column)} = %s"
    with connection.cursor() as cursor:
        cursor.execute(sql, [pk])
        (found,) = cursor.fetchall()
    return tuple(found)


def written_returning(
    write: Callable[[], models.Model], model: type[models.Model], columns: list[models.Field[Any, Any]]
) -> tuple[Any, ...]:
    """The row ``write()`` stores (found by the key it returns), read inside a savepoint rolled back afterwards."""
    found: tuple[Any, ...] = ()
    try:
        with transaction.atomic():
            found = stored_by_key(model, write().pk, columns)
            raise _Rollback
    except _Rollback:
        pass
    return found


@pytest.mark.parametrize("writer", ["values", "arrays", "copy"])
def test_a_text_longer_than_its_column_is_refused_as_the_orm_refuses_it_never_cut(
    writer: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL refuses a text longer than a ``varchar(n)`` column on insert, as the ORM's insert shows; an
    explicit cast to ``varchar(n)`` would cut it to n characters without a word, storing another value."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite keeps no column length")
    from tests.lane.models import TokenIndexed

    monkeypatch.setattr(postgres, "COPY_ROWS", 0 if writer == "copy" else 10**9)
    count = 1 if writer == "values" else postgres._VALUES_ROWS + 1
    now = TIMES[0]
    rows = [fast.instantiate(TokenIndexed, sample_fields(TokenIndexed, now, token="t" * 101)) for _ in range(count)]
    for model_row in rows:
        model_row.business_key = f"{model_row.pk}"
    with pytest.raises(DataError), transaction.atomic():
        TokenIndexed.objects.bulk_create([TokenIndexed(**sample_fields(TokenIndexed, now, token="t" * 101))])

    with pytest.raises(DataError), transaction.atomic():
        fast_insert(rows)

    assert TokenIndexed.objects.count() == 0
