"""Erasure of personal data: sealed with the consumer's key, erased by destroying it, and nowhere in clear.

The delivery address and the cancellation note are stored, parked and sent to the error sink only sealed
(``checkout.personal``); erasing the consumer leaves ids, totals and lineage exactly as they were.
"""

from __future__ import annotations

import json
import uuid

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

from checkout import personal, services, state
from checkout.cancellation_requested.models import CancellationRequested
from checkout.models import Consumer
from checkout.order_request import step as order_request_step
from checkout.order_request.models import OrderRequest
from checkout.order_view import render
from pipelines.contracts.status import AlreadyExists, InvalidArgument, Unavailable
from pipelines.models import ErrorSinkEntry, OpsAction, ParkedItem
from tests.checkout.erasure_helpers import (
    ADDRESS,
    NAME,
    NOTE,
    as_text,
    captured_logs,
    found_in,
    make_consumer,
    personal_body,
    tables_holding_personal_text,
)
from tests.conftest import all_insert_only_counts

MANUAL = {"restaurant": "chez-manuel", "items": [{"menuItemId": "crepe", "quantity": 1}]}


@pytest.fixture
def zed(demo_data):
    return make_consumer()


def test_the_address_is_stored_sealed_and_a_replay_of_the_same_body_inserts_nothing(zed):
    first = services.place_order(personal_body(), "zed-1")
    stored = OrderRequest.objects.get()
    counts = all_insert_only_counts()

    again = services.place_order(personal_body(), "zed-1")

    assert stored.delivery_address.startswith("sealed:v1:zed:")
    assert personal.reveal(stored.delivery_address) == ADDRESS
    assert (first.created, again.created) == (True, False)
    assert again.view == first.view
    assert all_insert_only_counts() == counts


def test_the_same_key_with_another_address_is_refused_and_inserts_nothing(zed):
    services.place_order(personal_body(), "zed-1")
    counts = all_insert_only_counts()

    moved = {**personal_body(), "deliveryAddress": {**ADDRESS, "street1": "18 Xylophone Alley"}}
    with pytest.raises(AlreadyExists):
        services.place_order(moved, "zed-1")

    assert all_insert_only_counts() == counts


def test_before_erasure_the_name_is_only_in_the_consumer_row_and_the_address_and_note_nowhere(zed):
    placed = services.place_order(personal_body(**MANUAL), "zed-1")
    services.cancel_order(placed.view["orderId"], NOTE)
    LogEntry.objects.log_actions(_admin().pk, [zed], CHANGE, change_message="active")

    assert CancellationRequested.objects.get().note.startswith("sealed:v1:zed:")
    assert personal.reveal(CancellationRequested.objects.get().note) == NOTE
    assert tables_holding_personal_text() == {
        "checkout_consumer": ["Zephyrine", "Quackenbush"],
        "django_admin_log": ["Zephyrine", "Quackenbush"],
    }


def test_after_erasure_no_table_holds_the_name_address_or_note_and_totals_and_lineage_are_unchanged(zed):
    completed = services.place_order(personal_body(), "zed-1").view
    cancelled = services.place_order(personal_body(**MANUAL), "zed-2").view
    services.cancel_order(cancelled["orderId"], NOTE)
    LogEntry.objects.log_actions(_admin().pk, [zed], CHANGE, change_message="active")
    ids = [uuid.UUID(completed["orderId"]), uuid.UUID(cancelled["orderId"])]
    views = [render(state.order_view(order_id)) for order_id in ids]
    lineages = [state.lineage_tree(order_id) for order_id in ids]
    counts = all_insert_only_counts()

    done = personal.erase("zed", actor="ops-anna", reason="erasure request #41")

    assert tables_holding_personal_text() == {}
    assert [render(state.order_view(order_id)) for order_id in ids] == views
    assert [v["orderTotal"] for v in views] == ["22.00", "7.25"]
    assert [state.lineage_tree(order_id) for order_id in ids] == lineages
    assert {personal.reveal(r.delivery_address) for r in OrderRequest.objects.all()} == {personal.ERASED}
    assert personal.reveal(CancellationRequested.objects.get().note) == personal.ERASED
    zed.refresh_from_db()
    assert (zed.name, zed.personal_key, zed.payment_token, zed.active) == ("[erased]", None, "", False)
    assert all_insert_only_counts() == {**counts, "pipelines.OpsAction": counts["pipelines.OpsAction"] + 1}
    audit = OpsAction.objects.get(pk=done.ops_action_id)
    assert (audit.action, audit.actor, audit.reason) == ("erase-consumer", "ops-anna", "erasure request #41")
    assert audit.result["consumer"] == "zed" and not done.already


def test_erasing_twice_records_one_ops_action_and_changes_nothing_more(zed):
    services.place_order(personal_body(), "zed-1")
    personal.erase("zed", actor="ops-anna", reason="request #41")
    counts = all_insert_only_counts()

    again = personal.erase("zed", actor="ops-bob", reason="request #41, again")

    assert again.already
    assert all_insert_only_counts() == counts
    assert OpsAction.objects.get().actor == "ops-anna"


def test_another_consumers_data_is_untouched_by_an_erasure(zed):
    make_consumer("other")
    services.place_order(personal_body(), "zed-1")
    services.place_order(personal_body("other"), "other-1")

    personal.erase("zed", actor="ops-anna", reason="request #41")

    revealed = {r.consumer_id: personal.reveal(r.delivery_address) for r in OrderRequest.objects.all()}
    assert revealed == {"zed": personal.ERASED, "other": ADDRESS}
    assert Consumer.objects.get(pk="other").name == NAME


def test_a_token_of_a_consumer_this_instance_does_not_know_reads_sealed_not_erased(zed):
    token = personal.seal(zed, ADDRESS, "deliveryAddress")
    elsewhere = token.replace("sealed:v1:zed:", "sealed:v1:zed-elsewhere:")

    assert personal.reveal({"a": [token, elsewhere]}) == {"a": [ADDRESS, personal.SEALED]}


def test_an_erased_consumer_cannot_order_and_a_refused_order_stores_nothing(zed):
    services.place_order(personal_body(), "zed-1")
    personal.erase("zed", actor="ops-anna", reason="request #41")
    counts = all_insert_only_counts()

    for key in ("zed-2", "zed-1"):  # a new key, and a replay (its body can no longer be sealed to compare)
        with pytest.raises(InvalidArgument) as refused:
            services.place_order(personal_body(), key)
        assert [(d.field, d.issue) for d in refused.value.details] == [("consumerId", "consumer erased")]
    assert all_insert_only_counts() == counts


def test_a_note_on_an_erased_consumers_order_is_refused_and_a_cancellation_without_one_goes_through(zed):
    placed = services.place_order(personal_body(**MANUAL), "zed-1")
    personal.erase("zed", actor="ops-anna", reason="request #41")
    counts = all_insert_only_counts()

    with pytest.raises(InvalidArgument):
        services.cancel_order(placed.view["orderId"], NOTE)
    assert all_insert_only_counts() == counts

    assert services.cancel_order(placed.view["orderId"])["cancellation"]["outcome"] == "ACCEPTED"
    assert CancellationRequested.objects.get().note is None


def test_a_failing_order_leaves_no_personal_text_in_logs_sink_entries_or_parked_items(zed, monkeypatch, capsys):
    def careless(fields, children=()):  # a step that puts its whole output in its error message
        raise ValueError(f"cannot record {fields}")

    with captured_logs() as logs:
        stalled = services.place_order(personal_body(paymentToken="tok_down"), "zed-down").view
        monkeypatch.setattr(order_request_step, "Output", careless)
        with pytest.raises(Unavailable):
            services.place_order(personal_body(), "zed-broken")
        captured = capsys.readouterr()  # the stderr sink's lines
        lines = logs() + captured.err + captured.out

    assert stalled["stalled"]["step"] == "payment_authorized"
    entries = list(ErrorSinkEntry.objects.order_by("created_at"))
    parked = list(ParkedItem.objects.order_by("created_at"))
    assert [e.step for e in entries] == ["payment_authorized", "order_request"]
    assert [p.step for p in parked] == ["payment_authorized", "order_request"]
    assert "sealed:v1:zed:" in entries[1].message and "sealed:v1:zed:" in json.dumps(parked[1].command)
    assert '"event": "error_sink.entry"' in lines and "cannot record" in lines and "sealed:v1:zed:" in lines
    assert found_in(lines) == []
    for entry in entries:
        assert found_in(as_text([entry.message, entry.traceback, entry.payload])) == []
    for item in parked:
        assert found_in(as_text([item.command, item.event])) == []


def test_the_erase_consumer_command_erases_and_prints_the_audit_row(zed, capsys):
    services.place_order(personal_body(), "zed-1")

    call_command("erase_consumer", "zed", "--reason", "request #41", "--actor", "cli:dpo")

    answer = json.loads(capsys.readouterr().out)
    audit = OpsAction.objects.get()
    assert answer == {"consumerId": "zed", "opsActionId": str(audit.pk), "alreadyErased": False}
    assert (audit.actor, audit.reason) == ("cli:dpo", "request #41")
    assert personal.reveal(OrderRequest.objects.get().delivery_address) == personal.ERASED


def test_the_erase_consumer_command_refuses_an_unknown_consumer_and_a_blank_reason(zed):
    with pytest.raises(CommandError, match="NOT_FOUND"):
        call_command("erase_consumer", "nobody", "--reason", "request #41")
    with pytest.raises(CommandError, match="INVALID_ARGUMENT"):
        call_command("erase_consumer", "zed", "--reason", "  ")
    assert OpsAction.objects.count() == 0
    assert Consumer.objects.get(pk="zed").name == NAME


def _admin():
    return get_user_model().objects.create_superuser("root", password="x")


def test_a_token_of_another_instances_consumer_with_the_same_id_reads_sealed_not_erased(zed):
    """A central sink that has its own consumer ``zed`` receives entries sealed by another instance's ``zed``: its
    live key cannot open them, and the console must not call that consumer's data erased."""
    theirs = Consumer(id="zed", name="someone else", personal_key=bytes(range(64)))
    token = personal.seal(theirs, ADDRESS, "deliveryAddress")

    assert personal.reveal({"a": [token]}) == {"a": [personal.SEALED]}
    assert not personal.is_erased(Consumer.objects.get(pk="zed"))
