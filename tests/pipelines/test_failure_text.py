"""A step's failure is recorded whatever its message holds: text no database stores is kept as its escape."""

from __future__ import annotations

import pytest

from pipelines.contracts.errors import RetryableError
from pipelines.contracts.text import storable, storable_json
from pipelines.models import ErrorSinkEntry, ParkedItem
from tests.lane import composition as lane

pytestmark = pytest.mark.django_db


def test_a_failure_whose_message_holds_a_nul_or_a_lone_surrogate_gets_its_one_sink_entry(lane_engine, monkeypatch):
    def fails(step: str, attempt: int) -> None:
        if step == "tokenize":  # a gateway's answer quoted in the message, bytes it could not decode
            raise RetryableError("gateway said \x00 and \udc80", code="UNAVAILABLE")

    monkeypatch.setattr(lane, "maybe_fail", fails)
    lane_engine.start("ingest", {"text": "a b"}, "doc-1")

    entry = ErrorSinkEntry.objects.get()
    assert entry.message == "gateway said \\x00 and \\udc80"
    assert entry.traceback.endswith("RetryableError: gateway said \\x00 and \\udc80\n")
    assert ParkedItem.objects.count() == 1


def test_storable_escapes_only_what_no_database_stores():
    assert storable("tab\tline\nnul\x00 surrogate\ud800 é ☃") == "tab\tline\nnul\\x00 surrogate\\ud800 é ☃"
    plain = "nothing to change"
    assert storable(plain) is plain
    assert storable_json({"k\x00": ["v\x00", 1, None, {"x": "\udfff"}]}) == {
        "k\\x00": ["v\\x00", 1, None, {"x": "\\udfff"}]
    }
