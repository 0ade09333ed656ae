"""The bench's floor is honest: every raw way of writing an order's rows that the bench may take as the floor
(COPY, binary COPY, multi-row INSERT) stores exactly the rows ``executemany`` stores for the same cloned orders,
in every table an order writes; and the chart draws one bar per system and level with its ratio to the floor."""

from __future__ import annotations

import xml.dom.minidom
from typing import Any

import pytest
from django.db import connection, transaction

from bench import chart
from bench import template as tpl
from checkout import demo
from tests.checkout.conftest import order_body

pytestmark = pytest.mark.django_db


class _Rollback(Exception):
    pass


def written(template: tpl.Template, write: Any, orders: list[Any]) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the order's tables after ``write(orders)``, as the database holds them (text), rolled back."""
    found: dict[str, list[tuple[Any, ...]]] = {}
    try:
        with transaction.atomic():
            write(orders)
            for t in template.tables:
                columns = ", ".join(f"CAST({c} AS TEXT)" for c in t.table.columns.strip("()").split(", "))
                with connection.cursor() as cursor:
                    cursor.execute(f"SELECT {columns} FROM {t.table.name}")
                    found[t.table.name] = sorted(cursor.fetchall())
            raise _Rollback
    except _Rollback:
        pass
    return found


def test_every_floor_method_stores_the_rows_executemany_stores() -> None:
    demo.load()
    template = tpl.capture(order_body())
    orders = [template.clone(f"floor-{n}") for n in range(3)]
    methods = tpl.floor_methods()
    assert sorted(methods) == (
        ["raw_copy", "raw_copy_binary", "raw_executemany"]
        if connection.vendor == "postgresql"
        else ["raw_executemany", "raw_multirow"]
    )

    reference = written(template, tpl.execute_orders, orders)
    assert sum(map(len, reference.values())) == 4 * template.rows_per_order  # the captured order and 3 clones
    for name, write in methods.items():
        assert written(template, write, orders) == reference, name


def test_the_chart_has_a_bar_per_system_and_level_labelled_with_its_ratio_to_the_floor() -> None:
    figures = {
        "postgres": {
            "0": {"raw_floor": {"orders_per_s": 2000.0, "x_floor": 1.0}, "tpfgo_batch": {"orders_per_s": 500.0}},
            "100000": {"raw_floor": {"orders_per_s": 1000.0}, "tpfgo_batch": {"orders_per_s": 600.0, "x_floor": 0.6}},
        }
    }

    document = xml.dom.minidom.parseString(chart.svg(figures, "test"))

    titles = [t.firstChild.data for t in document.getElementsByTagName("title")]
    assert titles == [
        "raw_floor: 2,000 orders/s, 1.00× the floor",
        "tpfgo_batch: 500 orders/s, 0.25× the floor",
        "raw_floor: 1,000 orders/s, 1.00× the floor",
        "tpfgo_batch: 600 orders/s, 0.60× the floor",
    ]
