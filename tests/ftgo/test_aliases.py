"""The alias ledger under concurrency: racing requests for one id end with one row and one number (PostgreSQL)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, connections

from ftgo import aliases
from ftgo.models import FtgoAlias
from pipelines.errors import InsertOnlyViolation

RACERS = 6


@pytest.mark.django_db(transaction=True)
def test_racing_requests_for_one_id_share_one_number() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("threads cannot share the in-memory SQLite test database; runs on PostgreSQL (CI)")
    barrier = threading.Barrier(RACERS)

    def number(_: int) -> int:
        try:
            barrier.wait()
            return aliases.number_for(FtgoAlias.ORDER, "0b9c2d1e-5f4a-4c3b-8a7d-6e5f4a3b2c1d")
        finally:
            connections.close_all()

    with ThreadPoolExecutor(RACERS) as pool:
        numbers = set(pool.map(number, range(RACERS)))
    assert len(numbers) == 1
    assert list(FtgoAlias.objects.values_list("number", flat=True)) == list(numbers)


def test_an_alias_is_never_changed_or_removed(db: None) -> None:
    number = aliases.number_for(FtgoAlias.CONSUMER, "ann")
    with pytest.raises(InsertOnlyViolation):
        FtgoAlias.objects.filter(number=number).update(tpfgo_id="ben")
    with pytest.raises(InsertOnlyViolation):
        FtgoAlias.objects.get(number=number).delete()
    assert list(FtgoAlias.objects.values_list("number", "kind", "tpfgo_id")) == [(number, "consumer", "ann")]
