"""Console fixtures: the ops group and users, and an order dead-lettered at dispatch for want of a courier."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone

from checkout import demo, services
from checkout.models import Courier
from opsconsole.ops_group import ensure_ops_group
from pipelines.failures import sinks
from pipelines.models import ParkedItem, ParkingOutcome
from pipelines.recovery import retries
from tests.checkout.conftest import order_body

OPS_PASSWORD = "ops-test-password"
MAX_ATTEMPTS = 50


def make_ops_user(username: str = "ops") -> AbstractBaseUser:
    user = get_user_model().objects.create_user(username, password=OPS_PASSWORD, is_staff=True)
    user.groups.add(ensure_ops_group())
    return user


def dead_lettered_order(key: str = "console-dead-1") -> uuid.UUID:
    """No courier is available: dispatch parks, and the remaining attempts run to a dead letter."""
    Courier.objects.update(available=False)
    placed = services.place_order(order_body(), key)
    order_id = uuid.UUID(placed.view["orderId"])
    parked = ParkedItem.objects.get(trace_id=order_id, step="delivery_assigned")
    # Run the remaining attempts as the worker would (tests enqueue nothing), whatever dispatch's policy allows.
    attempt = 2
    while not ParkingOutcome.objects.filter(parked=parked, outcome=ParkingOutcome.DEAD_LETTERED).exists():
        assert attempt <= MAX_ATTEMPTS, "dispatch never dead-lettered"
        assert retries.run_attempt(parked.pk, attempt) == "failed"
        attempt += 1
    return order_id


def forwarded_entry(trace_id: uuid.UUID, entry_id: uuid.UUID | None = None) -> None:
    """An error-sink entry another instance (``edge-1``) forwarded here, of a trace it keeps: none of it is here."""
    sinks.DatabaseSink().record(
        sinks.SinkEntry(
            id=entry_id or uuid.uuid4(),
            pipeline="dispatch",
            step="delivery_assigned",
            item_type="OrderReadyForDispatch",
            item_id=uuid.uuid4(),
            trace_id=trace_id,
            error_class="builtins.RuntimeError",
            error_code="UNEXPECTED",
            retryable=True,
            message="boom",
            traceback="",
            payload={},
            attempt=1,
            created_at=timezone.now(),
            source="edge-1",
        )
    )


@pytest.fixture
def ops_user(db: Any) -> AbstractBaseUser:
    return make_ops_user()


@pytest.fixture
def ops_client(client: Any, ops_user: AbstractBaseUser) -> Any:
    client.force_login(ops_user)
    return client


@pytest.fixture
def reference_data(db: Any) -> None:
    demo.load()


@pytest.fixture
def dead_order(reference_data: None) -> uuid.UUID:
    return dead_lettered_order()
