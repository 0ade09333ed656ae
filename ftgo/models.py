"""The alias ledger: FTGO's numeric ids for TPFGo's ids, insert-only, numbered by the database.

FTGO's clients name consumers, restaurants, orders and couriers by numbers; TPFGo names them by text ids and
order UUIDs. One row per TPFGo id and kind gives the number, and never changes. The number is the primary key,
an identity column: on PostgreSQL its values come from the column's sequence, so any number of web processes on
any number of machines hand out distinct numbers without talking to each other; on SQLite the table's
AUTOINCREMENT counter does the same within the one file (``ftgo.aliases`` reads it: a client's courier number
must not move it).
"""

from __future__ import annotations

from django.db import models

from pipelines.models import Ledger


class FtgoAlias(Ledger):
    """FTGO's number for one TPFGo consumer, restaurant, order or courier."""

    CONSUMER, RESTAURANT, ORDER, COURIER = "consumer", "restaurant", "order", "courier"
    KINDS = [(CONSUMER, CONSUMER), (RESTAURANT, RESTAURANT), (ORDER, ORDER), (COURIER, COURIER)]

    number = models.BigAutoField(primary_key=True)
    kind = models.CharField(max_length=16, choices=KINDS)
    tpfgo_id = models.CharField(max_length=64)
    created_at = models.DateTimeField()

    class Meta:
        verbose_name = "FTGO alias"
        verbose_name_plural = "FTGO aliases"
        constraints = [models.UniqueConstraint(fields=["kind", "tpfgo_id"], name="ftgo_alias_unique_id")]

    def __str__(self) -> str:
        return f"FTGO {self.kind} {self.number} = {self.tpfgo_id}"
