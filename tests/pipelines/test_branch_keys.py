"""A key off the main branch is ``<key>:<branch>`` and on it the key itself (``branches.branch_key``): a
checkpoint's business key and an external effect's idempotency key follow the one rule, so every key given before
forks existed stays and a fork's key is never its parent's."""

from __future__ import annotations

import uuid

from django.apps import apps

from checkout.kitchen_task.models import KitchenTask
from checkout.order_approved.models import OrderApproved
from pipelines.engine.runner import business_key
from pipelines.models import MAIN_BRANCH, Checkpoint
from pipelines.store import branches

ORDER = uuid.UUID("3f2a0c4e-0000-4000-8000-000000000001")
FORK = "5b1d7e2a-0000-4000-8000-000000000002"


def test_a_key_takes_the_branch_in_last_and_only_off_the_main_branch():
    assert branches.branch_key(f"capture:{ORDER}", MAIN_BRANCH) == f"capture:{ORDER}"
    assert branches.branch_key(f"capture:{ORDER}", FORK) == f"capture:{ORDER}:{FORK}"


def test_an_effect_key_on_the_main_branch_is_its_base():
    assert branches.effect_key(f"capture:{ORDER}", ORDER, MAIN_BRANCH) == f"capture:{ORDER}"


def test_a_business_key_follows_the_branch_key_rule():
    assert business_key(OrderApproved(order_id=ORDER, branch=MAIN_BRANCH)) == str(ORDER)
    assert business_key(OrderApproved(order_id=ORDER, branch=FORK)) == f"{ORDER}:{FORK}"
    task = KitchenTask(order_id=ORDER, task_name="pack", quantity=1, branch=MAIN_BRANCH)
    assert business_key(task) == f"{ORDER}:pack"
    task.branch = FORK
    assert business_key(task) == f"{ORDER}:pack:{FORK}"


def test_every_model_written_on_a_fork_declares_its_branch_column_last_in_its_business_key():
    forked = [m for m in apps.get_models() if issubclass(m, Checkpoint) and m.branch_field is not None]

    assert forked
    assert [m.__name__ for m in forked if m.business_key_fields[-1:] != (m.branch_field,)] == []
