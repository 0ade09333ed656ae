"""FTGO's consumer answer after erasure: the name reads ``[erased]``."""

from __future__ import annotations

from checkout import personal
from ftgo import aliases
from ftgo.models import FtgoAlias
from tests.ftgo.conftest import consumer_body


def test_the_ftgo_consumer_answer_shows_erased(ftgo):
    number = ftgo.post("/ftgo/consumers", consumer_body("Zephyrine", "Quackenbush"), format="json").json()["consumerId"]

    personal.erase(aliases.tpfgo_id(FtgoAlias.CONSUMER, number), actor="ops-anna", reason="request #41")

    answer = ftgo.get(f"/ftgo/consumers/{number}").json()
    assert answer == {"consumerId": number, "name": {"firstName": "[erased]", "lastName": ""}}
