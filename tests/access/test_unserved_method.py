"""A method no view serves is 405 to whoever is authenticated (docs/api.md's refusal, with its Allow header), not
403: the scope of a call that cannot be made was asked before DRF found there was no such call."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from access.tokens import create_token
from tests.conftest import all_insert_only_counts

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("kind", "path", "method", "allowed"),
    [
        ("ftgo-gateway", "/ftgo/orders", "put", "GET, POST, HEAD, OPTIONS"),
        ("ftgo-gateway", "/ftgo/orders/1", "delete", "GET, HEAD, OPTIONS"),
        ("subscriber", "/api/v1/orders", "delete", "POST, OPTIONS"),
        ("ops", "/api/v1/consumers", "patch", "GET, POST, HEAD, OPTIONS"),
    ],
)
def test_a_method_the_route_does_not_serve_is_405_to_any_principal(
    kind: str, path: str, method: str, allowed: str
) -> None:
    client = APIClient()
    before = all_insert_only_counts()
    assert getattr(client, method)(path, {}, format="json").status_code == 401  # the token is still asked first
    client.credentials(HTTP_AUTHORIZATION=f"Token {create_token(kind=kind, name=f'unserved-{kind}').key}")
    answer = getattr(client, method)(path, {}, format="json")
    assert (answer.status_code, answer["Allow"]) == (405, allowed)
    assert answer.json()["error"]["message"] == (
        f"{method.upper()} is not allowed on this route; the Allow header lists the methods it takes"
    )
    assert all_insert_only_counts() == before
