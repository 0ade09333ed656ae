"""A failure's id (a parked item's, an error-sink entry's) takes the branch in only off the main branch
(``parking.failure_id``): the ids given before forks existed stay, and a fork's failure is not its parent's."""

from __future__ import annotations

import uuid

from pipelines.failures import parking, record
from pipelines.models import MAIN_BRANCH

ITEM = "3f2a0c4e-0000-4000-8000-000000000001"
DESCRIBED = ("Command", ITEM, {})


def sink_id(**branch: str) -> uuid.UUID:
    failed = RuntimeError("gateway down")
    return record.sink_entry("checkout", "payment_authorized", DESCRIBED, None, None, 2, failed, hide=str, **branch).id


def test_a_parked_items_id_takes_the_branch_in_only_off_the_main_branch():
    main = uuid.UUID("f3a71a30-0757-3daf-9545-3fe38d58023c")
    assert parking.parked_id("checkout", "payment_authorized", ITEM) == main
    assert parking.parked_id("checkout", "payment_authorized", ITEM, MAIN_BRANCH) == main
    fork = parking.parked_id("checkout", "payment_authorized", ITEM, "fork-1")
    assert fork == uuid.UUID("edd61409-b01d-3db6-b069-a341feae7870")


def test_an_error_sink_entrys_id_takes_the_branch_in_only_off_the_main_branch():
    main = uuid.UUID("bf9517ca-867e-3efe-80fe-6b51f0494725")
    assert sink_id() == main and sink_id(branch=MAIN_BRANCH) == main
    assert sink_id(branch="fork-1") == uuid.UUID("b3e02b5f-1cf8-3f34-8cb5-6167d857ede0")
