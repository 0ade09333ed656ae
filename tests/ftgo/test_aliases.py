"""The alias ledger under concurrency: racing requests for one id end with one row and one number (PostgreSQL)."""

from __future__ import annotations

import importlib
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, connections
from rest_framework.test import APIClient

from ftgo import aliases
from ftgo.models import FtgoAlias
from pipelines.contracts.errors import InsertOnlyViolation
from tests.ftgo.conftest import consumer_body, created

RACERS = 6
CLOCK = 1_796_626_612_315  # a courier number as FTGO's test picks it: the time in milliseconds


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


def test_a_gateway_made_before_ftgo_registration_gets_the_scope_by_migration(db: None) -> None:
    from django.apps import apps

    from access.models import Principal
    from access.tokens import create_token

    upgrade = importlib.import_module("access.migrations.0004_ftgo_gateway_registers")
    create_token(kind="ftgo-gateway", name="old-gateway")
    create_token(kind="ops", name="old-ops")
    old = [s for s in Principal.objects.get(user__username="old-gateway").scopes if s != "ftgo:register"]
    Principal.objects.filter(user__username="old-gateway").update(scopes=old)
    ops = Principal.objects.get(user__username="old-ops").scopes
    for _ in range(2):  # idempotent
        upgrade.add_scope(apps, None)
    assert Principal.objects.get(user__username="old-gateway").scopes == [*old, "ftgo:register"]
    assert Principal.objects.get(user__username="old-ops").scopes == ops  # other kinds are left alone


def _consumer(ftgo: APIClient) -> int:
    return created(ftgo.post("/ftgo/consumers", consumer_body(), format="json"), "consumerId")


def _courier(ftgo: APIClient, number: int) -> None:
    answer = ftgo.post(f"/ftgo/couriers/{number}/availability", {"available": True}, format="json")
    assert answer.json() == {"courierId": number, "available": True}


def test_a_courier_number_a_client_picks_leaves_the_next_number_where_it_was(ftgo: APIClient) -> None:
    """FTGO's test names its courier by the clock, and its clients hold the other ids in a Java int: the numbers
    the ledger gives out afterwards go on from its own, on SQLite as on PostgreSQL."""
    first = _consumer(ftgo)
    _courier(ftgo, CLOCK)
    assert _consumer(ftgo) == first + 1
    _courier(ftgo, first + 2)  # the ledger's next number, taken by a client: skipped
    assert _consumer(ftgo) == first + 3
    assert _consumer(ftgo) == first + 4
    numbers = dict(FtgoAlias.objects.values_list("number", "kind"))
    assert numbers == {
        first: "consumer",
        first + 1: "consumer",
        first + 2: "courier",
        first + 3: "consumer",
        first + 4: "consumer",
        CLOCK: "courier",
    }


def test_a_courier_tpfgo_numbers_itself_is_numbered_past_a_java_int_and_the_others_go_on(db: None) -> None:
    """FTGO's suite reads assignedCourier as a Long, which a number a Java int holds is not: a courier TPFGo made
    (a demo courier FTGO's order may be given) is numbered past it; consumers, restaurants and orders go on below."""
    first = aliases.number_for(FtgoAlias.CONSUMER, "ann")
    ann = aliases.number_for(FtgoAlias.COURIER, "courier-ann")
    ben = aliases.number_for(FtgoAlias.COURIER, "courier-ben")
    assert aliases.number_for(FtgoAlias.COURIER, "courier-ann") == ann  # never changes
    after = aliases.number_for(FtgoAlias.CONSUMER, "bob")
    assert (ann, ben, after) == (aliases.COURIERS_FROM + first + 1, aliases.COURIERS_FROM + first + 2, first + 3)
    assert aliases.lookup(FtgoAlias.COURIER, str(ben)) == (ben, "courier-ben")


def test_a_courier_number_a_client_took_in_the_couriers_range_is_skipped(ftgo: APIClient) -> None:
    first = _consumer(ftgo)
    _courier(ftgo, aliases.COURIERS_FROM + first + 1)  # the number TPFGo's next courier would take
    assert aliases.number_for(FtgoAlias.COURIER, "courier-ann") == aliases.COURIERS_FROM + first + 2
    assert _consumer(ftgo) == first + 3
