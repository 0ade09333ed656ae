"""Whether a claim's run is still at its work (``pipelines.store.claim_locks``): a session advisory lock."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection

from pipelines.store import claim_locks
from tests.conftest import run_still_at

pytestmark = pytest.mark.django_db

WORK = ("attempt", uuid.UUID("00000000-0000-4000-8000-000000000001"), 2)


def test_a_key_is_one_piece_of_work_s_whatever_the_form_of_its_parts():
    assert claim_locks.key(*WORK) == claim_locks.key("attempt", str(WORK[1]), 2)
    assert (
        len({claim_locks.key(*WORK), claim_locks.key("attempt", WORK[1], 3), claim_locks.key("position", *WORK[1:])})
        == 3
    )


@pytest.mark.postgres
def test_the_lock_tells_a_run_still_at_the_work_from_one_that_ended(settings):
    if connection.vendor != "postgresql":
        pytest.skip("claim locks are PostgreSQL advisory locks")
    with claim_locks.working_on(*WORK) as alone:
        assert alone is True
    with run_still_at(*WORK):
        with claim_locks.working_on(*WORK) as alone:
            assert alone is False
    with claim_locks.working_on(*WORK) as alone:  # the other run ended: its lock is free
        assert alone is True
    settings.TPFGO_CLAIM_LOCKS = False  # a pooler in transaction mode: no lock is consulted
    with run_still_at(*WORK), claim_locks.working_on(*WORK) as alone:
        assert alone is None


def test_sqlite_has_no_such_lock():
    if connection.vendor == "postgresql":
        pytest.skip("the SQLite answer")
    with claim_locks.working_on(*WORK) as alone:
        assert alone is None
