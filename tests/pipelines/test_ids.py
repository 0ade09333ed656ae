import hashlib
import pickle
import uuid

import pytest

from pipelines.contracts import ids
from pipelines.contracts.errors import ContractError


def test_framed_seeds_of_delimiter_like_inputs_differ():
    assert ids.framed_seed("a:b", "c") == "#3:a:b#1:c"
    assert ids.framed_seed("a", "b:c") == "#1:a#3:b:c"
    assert ids.deterministic_id("a:b", "c") != ids.deterministic_id("a", "b:c")


def test_name_uuid_matches_javas_name_uuid_from_bytes():
    # UUID.nameUUIDFromBytes("hello".getBytes(UTF_8)) in Java.
    assert ids.name_uuid("hello") == uuid.UUID("5d41402a-bc4b-3a76-b971-9d911017c592")


def test_ids_are_stable_across_calls_and_none_frames_as_empty():
    assert ids.deterministic_id("order", "req-1") == ids.deterministic_id("order", "req-1")
    assert ids.framed_seed(None, "x") == "#0:#1:x"


def test_child_ids_differ_by_step_and_index():
    parent = ids.deterministic_id("order", "k")
    assert ids.child_id(parent, "a") != ids.child_id(parent, "b")
    assert ids.child_id(parent, "a", 0) != ids.child_id(parent, "a", 1)


@pytest.mark.parametrize("index", [None, 0, 7, 12])
@pytest.mark.parametrize("step", ["a", "kitchen_task", "ünïcode:#3"])
@pytest.mark.parametrize("parent", [ids.deterministic_id("order", "k"), uuid.UUID(int=5), uuid.UUID(int=2**128 - 1)])
def test_child_id_is_the_framed_deterministic_id(step, index, parent):
    parts = (str(parent), step) if index is None else (str(parent), step, index)
    assert ids.child_id(parent, step, index) == ids.deterministic_id(*parts)
    assert ids.child_id(str(parent), step, index) == ids.deterministic_id(*parts)


def test_merge_id_ignores_arrival_order():
    parts = [ids.deterministic_id("p", str(i)) for i in range(5)]
    assert ids.merge_id(parts, "m") == ids.merge_id(list(reversed(parts)), "m")


def test_idempotency_key_preserves_an_incoming_key():
    assert ids.idempotency_key("  client-key ", ["orderId"], {"orderId": "o-1"}) == "client-key"


def test_idempotency_key_joins_key_fields_with_colons():
    assert ids.idempotency_key(None, ["a", "b", "c"], {"a": "o-1", "b": "c-1", "c": "ready"}) == "o-1:c-1:ready"


def test_idempotency_key_refuses_a_blank_key_field():
    with pytest.raises(ContractError, match="'b' is blank"):
        ids.idempotency_key(None, ["a", "b"], {"a": "o-1", "b": "  "})


def test_name_uuids_are_ordinary_version_3_uuids():
    for seed in ["", "hello", "#36:5d41402a-bc4b-3a76-b971-9d911017c592#5:steps", "ünïcode"]:
        made = ids.name_uuid(seed)
        expected = uuid.UUID(bytes=hashlib.md5(seed.encode("utf-8")).digest(), version=3)
        assert made == expected and hash(made) == hash(expected) and str(made) == str(expected)
        assert made.version == 3 and made.variant == uuid.RFC_4122 and made.is_safe is uuid.SafeUUID.unknown
        assert pickle.loads(pickle.dumps(made)) == made
