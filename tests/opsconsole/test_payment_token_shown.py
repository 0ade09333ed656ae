"""Who sees a payment token whole: a superuser; every other console user and API principal its last four characters,
on every page and route that shows one (docs/operations.md, "Who sees a payment token")."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from rest_framework.test import APIClient

from access.tokens import create_token
from checkout import personal, services
from checkout.initial_order.models import InitialOrder
from checkout.order_request import step as order_request_step
from checkout.order_request.models import OrderRequest
from pipelines.contracts.status import Unavailable
from pipelines.models import ErrorSinkEntry
from tests.checkout.erasure_helpers import make_consumer, personal_body
from tests.opsconsole.conftest import OPS_PASSWORD

pytestmark = pytest.mark.django_db

TOKEN = "tok_live_5f3a9c1e4242"
HINT = "…4242"


@pytest.fixture
def token_pages(reference_data, monkeypatch) -> dict[str, str]:
    """An order placed with a payment token (declined: the simulator knows no such card), and one whose first step
    failed, whose error-sink entry carries the command (the token, sealed, in its payload)."""
    make_consumer()
    services.place_order(personal_body(paymentToken=TOKEN), "zed-1")

    def broken(fields, children=()):
        raise ValueError("the order request could not be recorded")

    monkeypatch.setattr(order_request_step, "Output", broken)
    with pytest.raises(Unavailable):
        services.place_order(personal_body(paymentToken=TOKEN), "zed-broken")
    entry = ErrorSinkEntry.objects.get()
    assert TOKEN not in json.dumps(entry.payload) and "paymentToken" in json.dumps(entry.payload)  # sealed, stored
    return {
        "order request": reverse("ops:order_request_orderrequest_change", args=[OrderRequest.objects.get().pk]),
        "initial order": reverse("ops:initial_order_initialorder_change", args=[InitialOrder.objects.get().pk]),
        "sink entry": reverse("ops:pipelines_errorsinkentry_change", args=[entry.pk]),
    }


def shown(client, urls: dict[str, str]) -> dict[str, tuple[bool, bool]]:
    """For each page: (the token whole on it, its last four characters on it)."""
    found = {}
    for what, url in urls.items():
        response = client.get(url)
        assert response.status_code == 200, (what, response.status_code)
        page = response.content.decode()
        found[what] = (TOKEN in page, HINT in page)
    return found


def test_a_console_viewer_sees_a_checkpoints_or_sink_entrys_payment_token_as_its_last_four_characters(
    ops_client, token_pages
):
    # before: (True, False) on all three, the token opened whole for anyone who may view the page
    assert shown(ops_client, token_pages) == dict.fromkeys(token_pages, (False, True))


def test_a_superuser_sees_the_payment_token_whole_on_those_pages(client, token_pages):
    client.force_login(get_user_model().objects.create_superuser("root", password=OPS_PASSWORD))
    assert shown(client, token_pages) == dict.fromkeys(token_pages, (True, False))


def api_client(*, superuser: bool) -> APIClient:
    issued = create_token(kind="ops", name="root-client" if superuser else "ops-client")
    if superuser:
        get_user_model().objects.filter(username=issued.name).update(is_superuser=True)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {issued.key}")
    return client


def test_the_consumers_route_answers_an_ops_principal_the_last_four_characters_and_a_superuser_the_whole(
    reference_data,
):
    ops, root = api_client(superuser=False), api_client(superuser=True)
    created = ops.post("/api/v1/consumers", {"id": "pat", "name": "Pat", "paymentToken": TOKEN}, format="json")
    assert (created.status_code, created.json()["paymentToken"]) == (201, HINT)

    def listed(client: APIClient) -> str:
        return next(c["paymentToken"] for c in client.get("/api/v1/consumers").json()["results"] if c["id"] == "pat")

    assert listed(ops) == HINT  # before: the token, whole
    assert listed(root) == TOKEN


def test_only_payment_tokens_are_hinted_and_markers_stay_as_they_are():
    payload = {"input": [{"paymentToken": TOKEN, "note": TOKEN, "payment_token": personal.ERASED}], "x": None}
    assert personal.shown(payload, None) == {
        "input": [{"paymentToken": HINT, "note": TOKEN, "payment_token": personal.ERASED}],
        "x": None,
    }
    assert personal.shown(TOKEN, None, "payment_token") == HINT
    assert personal.shown(TOKEN, None, "note") == TOKEN
