"""Trace numbers: the log and the lineage are indexed by ``(trace_number, …)`` instead of the random trace id.

Existing traces are numbered in the order of their first log row; the log rows and links get their number here,
with the insert-only triggers of those two tables lifted for the backfill (every migrate reinstalls them).
"""

from django.db import migrations, models

TABLES = ("pipelines_checkpointlog", "pipelines_lineagelink")


def backfill(apps, schema_editor):
    connection = schema_editor.connection
    qn = connection.ops.quote_name
    with connection.cursor() as cursor:
        for table in TABLES:
            if connection.vendor == "postgresql":
                cursor.execute(f"DROP TRIGGER IF EXISTS tpfgo_insert_only ON {qn(table)}")
            else:
                cursor.execute(f"DROP TRIGGER IF EXISTS tpfgo_insert_only_u_{table}")
        cursor.execute(
            "INSERT INTO pipelines_trace (trace_id, created_at) "
            "SELECT trace_id, MIN(created_at) FROM pipelines_checkpointlog GROUP BY trace_id ORDER BY MIN(seq)"
        )
        cursor.execute(  # links are written with their log row; a trace with links only would be a stray
            "INSERT INTO pipelines_trace (trace_id, created_at) "
            "SELECT DISTINCT l.trace_id, CURRENT_TIMESTAMP FROM pipelines_lineagelink l "
            "WHERE NOT EXISTS (SELECT 1 FROM pipelines_trace x WHERE x.trace_id = l.trace_id)"
        )
        for table in TABLES:
            cursor.execute(
                f"UPDATE {qn(table)} SET trace_number = "  # noqa: S608  (fixed table names)
                f"(SELECT number FROM pipelines_trace t WHERE t.trace_id = {qn(table)}.trace_id)"
            )


class Migration(migrations.Migration):
    dependencies = [
        ("pipelines", "0007_lineage_one_index"),
    ]

    operations = [
        migrations.CreateModel(
            name="Trace",
            fields=[
                ("number", models.BigAutoField(primary_key=True, serialize=False)),
                ("trace_id", models.UUIDField()),
                ("created_at", models.DateTimeField()),
            ],
            options={
                "abstract": False,
                "constraints": [models.UniqueConstraint(fields=("trace_id",), name="trace_unique_id")],
            },
        ),
        migrations.AddField(
            model_name="checkpointlog",
            name="trace_number",
            field=models.BigIntegerField(null=True),
        ),
        migrations.AddField(
            model_name="lineagelink",
            name="trace_number",
            field=models.BigIntegerField(null=True),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="checkpointlog",
            name="trace_number",
            field=models.BigIntegerField(),
        ),
        migrations.AlterField(
            model_name="lineagelink",
            name="trace_number",
            field=models.BigIntegerField(),
        ),
        migrations.RemoveIndex(
            model_name="checkpointlog",
            name="log_trace_seq",
        ),
        migrations.AddIndex(
            model_name="checkpointlog",
            index=models.Index(fields=["trace_number", "seq"], name="log_trace_number_seq"),
        ),
        migrations.RemoveConstraint(
            model_name="lineagelink",
            name="lineage_unique_edge",
        ),
        migrations.AddConstraint(
            model_name="lineagelink",
            constraint=models.UniqueConstraint(
                fields=("trace_number", "parent_id", "child_id"), name="lineage_unique_edge"
            ),
        ),
    ]
