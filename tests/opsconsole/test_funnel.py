"""The dashboard funnel's folded counts plus the unfolded tail equal a direct count of the checkpoint log.

The direct count is the query the dashboard ran before the fold existed: distinct traces per (type, day) over
seven days of the log. Orders are placed through the engine at chosen instants (time-machine) around midnight,
one of them revised on two days, so the day boundaries, a type reached twice in a day and a type reached on two
days are all in the data; the fold runs with a tiny batch so its boundaries cut through traces.
"""

from __future__ import annotations

import datetime
import threading
import uuid
from typing import Any

import pytest
import time_machine
from django.db import connection, transaction
from django.db.models import Count
from django.db.models.functions import TruncDate

from checkout import demo, services
from opsconsole import funnel
from opsconsole.models import FunnelDay, FunnelFold
from opsconsole.selectors import FUNNEL_DAYS
from pipelines.models import CheckpointLog
from tests.checkout.conftest import order_body

TODAY = datetime.datetime(2026, 3, 10, 12, 0, tzinfo=datetime.UTC)
START = (TODAY - datetime.timedelta(days=FUNNEL_DAYS - 1)).date()
MANUAL = {"restaurant": "chez-manuel", "items": [{"menuItemId": "crepe", "quantity": 1}]}


def at(days_before: int, hour: int, minute: int, second: float = 0.0) -> datetime.datetime:
    day = TODAY - datetime.timedelta(days=days_before)
    return day.replace(hour=hour, minute=minute, second=0) + datetime.timedelta(seconds=second)


def direct(start: datetime.date) -> dict[tuple[datetime.date, str], int]:
    """The old dashboard query, verbatim in spirit: COUNT(DISTINCT trace_id) per (type, day) since ``start``."""
    since = datetime.datetime.combine(start, datetime.time.min, tzinfo=datetime.UTC)
    rows = (
        CheckpointLog.objects.filter(created_at__gte=since)
        .annotate(day=TruncDate("created_at"))
        .values("checkpoint_type", "day")
        .annotate(orders=Count("trace_id", distinct=True))
        .order_by()
    )
    return {(r["day"], r["checkpoint_type"]): r["orders"] for r in rows}


def fold_all(batch: int | None = None) -> None:
    """PostgreSQL folds up to the mark of an earlier run: two runs reach everything committed before the first."""
    funnel.fold(batch=batch)
    funnel.fold(batch=batch)
    newest = CheckpointLog.objects.order_by("-seq").values_list("seq", flat=True).first()
    assert funnel.position().folded_seq == newest


def place(key: str, when: datetime.datetime, body: dict[str, Any] | None = None) -> str:
    with time_machine.travel(when, tick=False):
        return str(services.place_order(order_body(**(body or {})), key).view["orderId"])


def revise(order_id: str, key: str, when: datetime.datetime, quantity: int) -> None:
    with time_machine.travel(when, tick=False):
        services.revise_order(order_id, {"items": [{"menuItemId": "omelette", "quantity": quantity}]}, key)


@pytest.fixture
def history(transactional_db: Any) -> str:
    demo.load()
    place("funnel-old", at(FUNNEL_DAYS + 1, 10, 0))  # before the window: folded, never shown
    revised = place("funnel-midnight", at(3, 23, 59, 59.5), MANUAL)
    revise(revised, "funnel-rev-1", at(3, 23, 59, 59.9), 2)  # RevisedOrder on day -3 …
    revise(revised, "funnel-rev-2", at(2, 0, 0, 0.0), 3)  # … and twice on day -2: one order each day
    revise(revised, "funnel-rev-3", at(2, 0, 0, 1.0), 4)
    place("funnel-day-2", at(2, 0, 0, 0.5))
    place("funnel-today", at(0, 0, 0, 0.0))
    return revised


def test_folded_counts_plus_the_tail_equal_a_direct_count_at_every_stage(history):
    with time_machine.travel(TODAY, tick=False):
        expected = direct(START)
        assert expected[(at(3, 0, 0).date(), "RevisedOrder")] == 1
        assert expected[(at(2, 0, 0).date(), "RevisedOrder")] == 1
        assert expected[(at(2, 0, 0).date(), "OrderRequest")] == 1  # the midnight order counts on day -3
        assert expected[(at(3, 0, 0).date(), "OrderRequest")] == 1

        counts, position = funnel.per_day(START)  # nothing folded: all tail
        assert position.folded_seq == 0 and FunnelDay.objects.count() == 0
        assert counts == expected

        fold_all(batch=7)  # batch boundaries cut through every trace
        assert FunnelDay.objects.exists()
        counts, position = funnel.per_day(START)
        assert counts == expected

        place("funnel-today-2", at(0, 1, 0))  # a folded part and a tail on the same day
        revise(history, "funnel-rev-4", at(0, 1, 0, 1.0), 5)
        counts, position = funnel.per_day(START)
        assert position.folded_seq < CheckpointLog.objects.order_by("-seq").values_list("seq", flat=True)[0]
        assert counts == direct(START) != expected

        fold_all()
        assert funnel.per_day(START)[0] == direct(START)


def test_a_fold_is_idempotent_and_counts_outside_the_window_are_kept_but_not_shown(history):
    with time_machine.travel(TODAY, tick=False):
        fold_all(batch=5)
        stored = {(r.day, r.checkpoint_type): r.orders for r in FunnelDay.objects.all()}
        fold_all(batch=5)
        assert {(r.day, r.checkpoint_type): r.orders for r in FunnelDay.objects.all()} == stored
        old_day = at(FUNNEL_DAYS + 1, 0, 0).date()
        assert stored[(old_day, "OrderRequest")] == 1
        assert all(day >= START for day, _ in funnel.per_day(START)[0])


def test_the_dashboard_shows_the_same_funnel_before_and_after_the_fold(history, client):
    from tests.opsconsole.conftest import make_ops_user

    client.force_login(make_ops_user())
    with time_machine.travel(TODAY, tick=False):
        before = client.get("/ops/").content.decode()
        fold_all(batch=3)
        after = client.get("/ops/").content.decode()
    table = slice_funnel(before)
    assert 'data-checkpoint="RevisedOrder"' in table
    assert table == slice_funnel(after)
    assert "not folded yet" in before and "not folded yet" not in after


def slice_funnel(page: str) -> str:
    start = page.index('<table class="ops-funnel">')
    return page[start : page.index("</table>", start)]


@pytest.mark.skipif("connection.vendor != 'postgresql'")
def test_postgresql_never_folds_past_a_seq_whose_transaction_is_still_open(transactional_db):
    """A log row inserted (seq taken) but not committed: the fold stops below it, and counts it once committed."""
    demo.load()
    place("funnel-pg-1", TODAY - datetime.timedelta(hours=1))
    inserted, release, done = threading.Event(), threading.Event(), threading.Event()
    held: dict[str, int] = {}

    def open_transaction() -> None:
        try:
            with transaction.atomic():
                row = CheckpointLog.objects.create(
                    checkpoint_type="HeldOpen",
                    checkpoint_id=uuid.uuid4(),
                    trace_id=uuid.uuid4(),
                    trace_number=10**12,
                    trace_created_at=TODAY - datetime.timedelta(minutes=30),
                    pipeline="test",
                    step="held",
                    created_at=TODAY - datetime.timedelta(minutes=30),
                )
                held["seq"] = row.seq
                inserted.set()
                release.wait(30)
        finally:
            connection.close()
            done.set()

    thread = threading.Thread(target=open_transaction)
    thread.start()
    assert inserted.wait(30)
    place("funnel-pg-2", TODAY - datetime.timedelta(minutes=10))  # a higher seq, committed first
    newest = CheckpointLog.objects.order_by("-seq").values_list("seq", flat=True)[0]
    assert newest > held["seq"]
    for _ in range(3):
        funnel.fold()
    assert funnel.position().folded_seq < held["seq"]
    release.set()
    assert done.wait(30)
    thread.join()
    with time_machine.travel(TODAY, tick=False):
        fold_all()
        counts = funnel.per_day(START)[0]
        assert counts == direct(START)
        assert counts[(TODAY.date(), "HeldOpen")] == 1
    assert FunnelFold.objects.get().folded_seq == CheckpointLog.objects.order_by("-seq")[0].seq


def skip_seqs(count: int) -> None:
    """The log's next seq jumps ``count`` ahead, as rolled-back or purged rows leave it."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT setval(pg_get_serial_sequence('pipelines_checkpointlog', 'seq'), "
                "(SELECT max(seq) FROM pipelines_checkpointlog) + %s)",
                [count],
            )
        else:
            cursor.execute("UPDATE sqlite_sequence SET seq = seq + %s WHERE name = 'pipelines_checkpointlog'", [count])


def test_a_stretch_of_seqs_without_rows_is_crossed_in_one_batch(history):
    with time_machine.travel(TODAY, tick=False):
        funnel.fold(batch=3)
        funnel.fold(batch=3)  # PostgreSQL folds up to an earlier run's mark
        skip_seqs(3000)
        place("funnel-after-gap", at(0, 1, 0, 0.0))
        after_gap = CheckpointLog.objects.filter(seq__gt=funnel.position().folded_seq).count()
        first = funnel.fold(batch=3)
        second = funnel.fold(batch=3)
        newest = CheckpointLog.objects.order_by("-seq").values_list("seq", flat=True).first()
        assert funnel.position().folded_seq == newest
        assert first.rows + second.rows == after_gap
        # Every window of 3 that holds a row, plus one step over the gap: not 1,000 empty windows.
        assert first.batches + second.batches <= after_gap + 2
        assert funnel.per_day(START)[0] == direct(START)
