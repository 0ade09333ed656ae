"""Admission: once the backlog bound is reached by items held at a paused step, a new order is 429."""

from __future__ import annotations

import pytest
from django.test import override_settings

from checkout.order_request.models import OrderRequest
from pipelines.engine.registry import composition
from pipelines.recovery import backlog, pausing
from tests.checkout.conftest import order_body

pytestmark = pytest.mark.django_db


@override_settings(TPFGO_BACKLOG_BOUND=1, TPFGO_BACKLOG_CHECK_SECONDS=3)
def test_a_new_order_is_refused_with_429_once_paused_items_reach_the_bound(api, demo_data):
    pausing.pause(composition(), "payment-capture", "payment_outcome", actor="ops", reason="gateway down")
    held = api.post("/api/v1/orders", order_body(), format="json", HTTP_IDEMPOTENCY_KEY="bound-rest-1")
    assert held.status_code == 201 and held.json()["state"] == "DELIVERED"
    backlog.forget()  # as after the check period

    refused = api.post("/api/v1/orders", order_body(), format="json", HTTP_IDEMPOTENCY_KEY="bound-rest-2")
    assert refused.status_code == 429 and refused["Retry-After"] == "3"
    assert refused.json()["error"]["code"] == "RESOURCE_EXHAUSTED"
    assert "backlog bound (1)" in refused.json()["error"]["message"]
    assert OrderRequest.objects.count() == 1
    replay = api.post("/api/v1/orders", order_body(), format="json", HTTP_IDEMPOTENCY_KEY="bound-rest-1")
    assert replay.status_code == 200
