"""FTGO's services answer ``application/json;charset=UTF-8``; ``/ftgo/`` answers ``application/json``, UTF-8 without
the parameter JSON does not have (docs/ftgo.md), and reads the ``charset`` FTGO's clients send."""

from __future__ import annotations

from rest_framework.test import APIClient

from tests.ftgo.conftest import created


def test_an_answer_is_utf8_json_without_a_charset_and_a_request_may_name_its_charset(ftgo: APIClient) -> None:
    body = '{"name": {"firstName": "Zoë", "lastName": "Ñúñez"}}'.encode()
    sent = ftgo.generic("POST", "/ftgo/consumers", body, content_type="application/json;charset=UTF-8")
    consumer = created(sent, "consumerId")
    answer = ftgo.get(f"/ftgo/consumers/{consumer}")
    assert (sent["Content-Type"], answer["Content-Type"]) == ("application/json", "application/json")
    assert answer.content == (
        b'{"consumerId":%d,"name":{"firstName":"Zo\xc3\xab","lastName":"\xc3\x91\xc3\xba\xc3\xb1ez"}}' % consumer
    )
