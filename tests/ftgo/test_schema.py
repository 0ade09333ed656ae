"""The schema's /ftgo/ operations say what the routes answer, in the types FTGO's Java clients hold them in."""

from __future__ import annotations

from typing import Any

from rest_framework.test import APIClient


def schema(client: APIClient) -> dict[str, Any]:
    return dict(client.get("/api/v1/schema?format=json").json())


def test_a_couriers_numbers_are_int64_as_the_clock_numbers_ftgo_picks_and_the_ones_past_an_int(
    ftgo: APIClient,
) -> None:
    """FTGO names a courier by the clock in milliseconds and reads assignedCourier as a Long; a client generated
    from an integer without a format holds it in a Java int, which neither fits."""
    document = schema(ftgo)
    (courier,) = document["paths"]["/ftgo/couriers/{courier_id}/availability"]["post"]["parameters"]
    components = document["components"]["schemas"]
    assert courier["schema"] == {"type": "integer", "format": "int64"}
    assert components["FtgoCourier"]["properties"]["courierId"]["format"] == "int64"
    assert components["FtgoDelivery"]["properties"]["assignedCourier"]["format"] == "int64"
    answered = ftgo.post("/ftgo/couriers/1765000000000/availability", {"available": True}, format="json")
    assert answered.json() == {"courierId": 1765000000000, "available": True}


def test_the_account_and_the_history_are_described_as_answered(ftgo: APIClient) -> None:
    components = schema(ftgo)["components"]["schemas"]
    assert components["FtgoAccount"]["properties"]["accountId"]["type"] == "string"
    assert components["FtgoOrderHistory"]["properties"]["startKey"] == {
        "type": "string",
        "nullable": True,
        "description": "FTGO's next page's key: always null, the newest orders are one page",
    }
