"""``commands.plain_order`` gives exactly what ``CreateOrderSerializer`` validates a body to, or steps aside.

The short cut takes the plain bodies a batch is made of; for every body it takes, the serializer must give the
same validated data (key order included: the address is sealed as it comes); any body it does not take is the
serializer's to validate and word the errors of.
"""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from checkout import commands

BODY: dict[str, Any] = {
    "consumerId": "alice",
    "restaurantId": "pizza-roma",
    "items": [{"menuItemId": "margherita", "quantity": 2}, {"menuItemId": "tiramisu", "quantity": 1}],
    "deliveryAddress": {"zip": "94612", "street1": "1 Main St", "city": "Oakland", "state": "CA"},
}

# Values a field may hold: valid ones, and every way a JSON value can be wrong for a text, a count or a time.
ODD = [
    None,
    "",
    " ",
    "x",
    "a" * 300,
    "a" * 301,
    "bad\x00nul",
    "tab\there",
    "\ud800",
    "é ünï",
    0,
    1,
    99,
    100,
    -1,
    True,
    2.0,
    "2",
    [],
    {},
    [{}],
    "2026-01-02T03:04:05+02:00",
    "2026-01-02T03:04:05",
    "2026-02-30T00:00:00Z",
    "0999-01-01T00:00:00Z",
]
PATHS = [
    ("consumerId",),
    ("restaurantId",),
    ("items",),
    ("items", 0),
    ("items", 0, "menuItemId"),
    ("items", 1, "quantity"),
    ("deliveryAddress",),
    ("deliveryAddress", "street1"),
    ("deliveryAddress", "street2"),
    ("deliveryAddress", "zip"),
    ("deliveryTime",),
    ("paymentToken",),
    ("extra",),
    ("deliveryAddress", "extra"),
    ("items", 0, "extra"),
]


def _plain(value: Any) -> Any:
    """The serializer's validated data as plain dicts and lists, key order kept."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _serializer(body: Any) -> Any:
    try:
        return _plain(commands._validated(body))
    except commands.InvalidArgument:
        return None


def _same(body: Any) -> Any:
    fast = commands.plain_order(body)
    if fast is not None:
        expected = _serializer(body)
        assert expected is not None, body
        assert _plain(fast) == expected, body
        assert [list(d) for d in (fast, fast["deliveryAddress"])] == [
            list(d) for d in (expected, expected["deliveryAddress"])
        ]
    return fast


def _with(path: tuple[Any, ...], value: Any, *, delete: bool = False) -> Any:
    body = copy.deepcopy(BODY)
    body.setdefault("deliveryAddress", {})
    *where, last = path
    target = body
    for step in where:
        target = target[step]
    if delete:
        target.pop(last) if isinstance(target, list) else target.pop(last, None)
    else:
        target[last] = value
    return body


def test_a_plain_body_takes_the_short_cut_with_the_serializers_result():
    assert _same(BODY) is not None
    full = {
        **BODY,
        "deliveryTime": "2026-01-02T03:04:05+02:00",
        "paymentToken": "tok",
        "deliveryAddress": {**BODY["deliveryAddress"], "street2": ""},
    }
    assert _same(full)["deliveryTime"] == "2026-01-02T01:04:05Z"
    assert _same({**BODY, "deliveryTime": "", "paymentToken": ""}) is not None


def test_every_odd_value_anywhere_is_the_serializers_result_or_left_to_it():
    left = 0
    for path in PATHS:
        for value in ODD:
            left += _same(_with(path, value)) is None
        left += _same(_with(path, None, delete=True)) is None
    assert left > 0  # the serializer still words the errors


def test_a_body_that_is_not_a_plain_dict_is_left_to_the_serializer():
    from collections import OrderedDict

    assert commands.plain_order(OrderedDict(BODY)) is None
    assert commands.plain_order({**BODY, "items": tuple(BODY["items"])}) is None


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2, 120) | st.text(max_size=5) | st.sampled_from(ODD[:10]),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(["menuItemId", "quantity", "x"]), inner)
    ),
    max_leaves=6,
)


@settings(max_examples=300, deadline=None)
@given(path=st.sampled_from(PATHS), value=json_values)
def test_any_json_value_anywhere_is_the_serializers_result_or_left_to_it(path, value):
    _same(_with(path, value))
