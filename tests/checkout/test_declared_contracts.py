"""A checkpoint's contract is read from its model's numbered fields: one list, checked against the committed lock."""

from __future__ import annotations

import json
from collections.abc import Iterator
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError

from checkout.acceptance_decision.models import AcceptanceDecision
from checkout.composition import COMPOSITION
from checkout.payment_outcome.models import PaymentOutcome
from checkout.ready_order.models import ReadyOrder
from pipelines import checkpoint_models
from pipelines.contracts.fields import NUMBER_ATTR, rebuild_contracts
from pipelines.contracts.rules import written_models
from tpfgo_site.composition import COMPOSITION as SITE


@pytest.fixture
def fresh_contracts() -> Iterator[None]:
    """Contracts are built once per model; a test that renumbers a field rebuilds them before and after."""
    rebuild_contracts()
    yield
    rebuild_contracts()


def check_contracts() -> tuple[int, str]:
    out, err = StringIO(), StringIO()
    try:
        call_command("check_contracts", stdout=out, stderr=err)
    except CommandError as exc:
        return exc.returncode, err.getvalue()
    return 0, out.getvalue()


def test_every_checkout_contract_field_is_a_numbered_model_field() -> None:
    models = [m for m in checkpoint_models().values() if m.__module__.startswith("checkout.")]
    assert set(models) == written_models(COMPOSITION)  # every model the chain writes, and only those
    for model in models:
        for field in model.contract.fields:
            declared = getattr(model._meta.get_field(field.attr), NUMBER_ATTR, None)
            inherited = model is ReadyOrder and field.attr == "created_at"  # named in declared(..., created_at=7)
            assert declared == (None if inherited else field.number), (model.__name__, field.name)


def test_the_declarations_match_the_committed_lock() -> None:
    code, out = check_contracts()

    assert code == 0
    publications = len(json.loads((Path(settings.BASE_DIR) / "contracts.lock.json").read_text()))
    subscriptions = len(SITE.subscriptions)  # checkout's and the search lane's
    assert out.startswith(f"contracts OK: {publications} publications, {subscriptions} subscriptions, lock ")


def test_renumbering_a_model_field_is_drift_from_the_lock(fresh_contracts: None, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(ReadyOrder._meta.get_field("currency"), NUMBER_ATTR, 8)
    rebuild_contracts()

    code, err = check_contracts()

    assert code == 1
    assert err.startswith(
        "pipelines.E033 (error) breaking change to publication 'tpfgo.checkout.order-ready.v1' (contract ReadyOrder, "
        "producer checkout/ready_order) under the same version v1:\n"
        "  - field 'currency' number changed (expected=6 actual=8)\n"
    )
    assert err.count("pipelines.E0") == 1


def test_a_field_that_may_be_null_is_handed_off_as_optional(fresh_contracts: None, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    assert PaymentOutcome.contract.field("paymentId").required is False  # type: ignore[union-attr]
    assert PaymentOutcome.contract.field("amount").required is True  # type: ignore[union-attr]
    monkeypatch.setattr(PaymentOutcome._meta.get_field("payment_id"), "null", False)
    rebuild_contracts()

    assert PaymentOutcome.contract.field("paymentId").required is True  # type: ignore[union-attr]


def test_text_that_may_be_blank_is_handed_off_as_optional() -> None:
    assert AcceptanceDecision.contract.field("reason").required is False  # type: ignore[union-attr]
    assert AcceptanceDecision.contract.field("decidedBy").required is True  # type: ignore[union-attr]
