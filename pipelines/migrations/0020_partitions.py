"""The log and the lineage carry their trace's creation time; on PostgreSQL they become partitioned by it.

Every ``CheckpointLog`` and ``LineageLink`` row gets ``trace_created_at`` (its trace's ``Trace.created_at``). On
SQLite that is all: the column is filled from ``pipelines_trace``, with the update trigger lifted for the backfill
(every migrate reinstalls it). On PostgreSQL each table is rebuilt in place, in this migration's transaction, as a
table range-partitioned by that column (``pipelines.store.partitions``): a new partitioned table, a DEFAULT
partition and one partition per month from the first trace to three months ahead, every row copied across with
its trace's creation time, the old table dropped, the new one renamed to the old name, then its sequence, keys and
indexes (PostgreSQL 15 has no identity column on a partitioned table, so the id comes from an owned sequence set
past the largest id copied). The copy takes time proportional to the tables' size and holds them locked meanwhile.
Not reversible on PostgreSQL.
"""

import datetime

from django.db import migrations, models

TABLES = ("pipelines_checkpointlog", "pipelines_lineagelink")
KEY = "trace_created_at"
# Per table: its id column, and the indexes it has (as ``migrations`` made them), re-created after the copy.
SHAPES = {
    "pipelines_checkpointlog": (
        "seq",
        [
            'CREATE INDEX "log_trace_number_seq" ON "pipelines_checkpointlog" ("trace_number", "seq")',
            'CREATE INDEX "pipelines_checkpointlog_created_at_7e14f175" ON "pipelines_checkpointlog" ("created_at")',
        ],
    ),
    "pipelines_lineagelink": ("id", []),
}
MONTHS_AHEAD = 3


def backfill_sqlite(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor == "postgresql":
        return  # filled by the copy into the partitioned table (partition)
    qn = connection.ops.quote_name
    with connection.cursor() as cursor:
        for table in TABLES:
            cursor.execute(f"DROP TRIGGER IF EXISTS tpfgo_insert_only_u_{table}")
            cursor.execute(
                f"UPDATE {qn(table)} SET {KEY} = "  # noqa: S608  (fixed table names)
                f"(SELECT created_at FROM pipelines_trace t WHERE t.number = {qn(table)}.trace_number)"
            )


def _months(first, now):
    start = datetime.datetime(first.year, first.month, 1, tzinfo=datetime.UTC)
    last = datetime.datetime(now.year, now.month, 1, tzinfo=datetime.UTC)
    for _ in range(MONTHS_AHEAD):
        last = last.replace(year=last.year + last.month // 12, month=last.month % 12 + 1)
    while start <= last:
        end = start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)
        yield start, end
        start = end


def partition(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT MIN(created_at), now() FROM pipelines_trace")
        first, now = cursor.fetchone()
        months = list(_months(first or now, now))
        for table in TABLES:
            _rebuild(connection, cursor, table, months)


def _rebuild(connection, cursor, table, months):
    qn = connection.ops.quote_name
    id_column, indexes = SHAPES[table]
    new, sequence = f"{table}_partitioned", f"{table}_{id_column}_seq"
    columns = [c.name for c in connection.introspection.get_table_description(cursor, table)]
    cursor.execute(
        f"CREATE TABLE {qn(new)} (LIKE {qn(table)} INCLUDING DEFAULTS INCLUDING CONSTRAINTS) "
        f"PARTITION BY RANGE ({qn(KEY)})"
    )
    cursor.execute(f"CREATE TABLE {qn(table + '_default')} PARTITION OF {qn(new)} DEFAULT")
    for start, end in months:
        cursor.execute(  # DDL takes no bound parameters: literals from two UTC datetimes
            f"CREATE TABLE {qn(f'{table}_p{start:%Y_%m}')} PARTITION OF {qn(new)} "
            f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
        )
    # A row whose trace is somehow missing keeps a time of its own rather than being lost.
    fallback = "l.created_at" if "created_at" in columns else "CURRENT_TIMESTAMP"
    select = ", ".join(f"COALESCE(t.created_at, {fallback})" if c == KEY else f"l.{qn(c)}" for c in columns)
    cursor.execute(
        f"INSERT INTO {qn(new)} ({', '.join(map(qn, columns))}) SELECT {select} "  # noqa: S608
        f"FROM {qn(table)} l LEFT JOIN pipelines_trace t ON t.number = l.trace_number"
    )
    cursor.execute(f"SELECT COALESCE(MAX({qn(id_column)}), 0) FROM {qn(table)}")  # noqa: S608
    (largest,) = cursor.fetchone()
    cursor.execute(f"DROP TABLE {qn(table)}")
    cursor.execute(f"ALTER TABLE {qn(new)} RENAME TO {qn(table)}")
    cursor.execute(f"CREATE SEQUENCE {qn(sequence)} OWNED BY {qn(table)}.{qn(id_column)}")
    cursor.execute("SELECT setval(%s, %s, %s)", [sequence, max(largest, 1), largest > 0])
    cursor.execute(f"ALTER TABLE {qn(table)} ALTER COLUMN {qn(id_column)} SET DEFAULT nextval('{sequence}'::regclass)")
    # The partition key must be in every unique key: the id is unique on its own (a sequence), the pair too.
    cursor.execute(f"ALTER TABLE {qn(table)} ADD CONSTRAINT {qn(table + '_pkey')} PRIMARY KEY ({qn(id_column)}, {qn(KEY)})")
    for statement in indexes:
        cursor.execute(statement)


def refuse_on_postgresql(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        raise RuntimeError("0020_partitions cannot be reversed on PostgreSQL (the tables are partitioned)")


class Migration(migrations.Migration):
    dependencies = [
        ("pipelines", "0018_purge"),
    ]

    operations = [
        migrations.AddField(
            model_name="checkpointlog",
            name="trace_created_at",
            field=models.DateTimeField(null=True),
        ),
        migrations.AddField(
            model_name="lineagelink",
            name="trace_created_at",
            field=models.DateTimeField(null=True),
        ),
        migrations.RemoveConstraint(
            model_name="lineagelink",
            name="lineage_unique_edge",
        ),
        migrations.RunPython(backfill_sqlite, migrations.RunPython.noop),
        migrations.RunPython(partition, refuse_on_postgresql),
        migrations.AlterField(
            model_name="checkpointlog",
            name="trace_created_at",
            field=models.DateTimeField(),
        ),
        migrations.AlterField(
            model_name="lineagelink",
            name="trace_created_at",
            field=models.DateTimeField(),
        ),
        migrations.AddConstraint(
            model_name="lineagelink",
            constraint=models.UniqueConstraint(
                fields=("trace_number", "parent_id", "child_id", "trace_created_at"), name="lineage_unique_edge"
            ),
        ),
    ]
