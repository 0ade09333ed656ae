"""One order through 01→08: the exact checkpoints, the derived state, and lineage back to the request."""

import pytest

from checkout import services
from checkout.kitchen_task.models import KitchenTask
from checkout.order_request.models import LineItem
from pipelines.models import LineageLink
from tests.checkout.conftest import checkpoint_types, place
from tests.checkout.facts import completed_order_facts

pytestmark = pytest.mark.django_db

HAPPY = completed_order_facts(lines=2)  # two lines: margherita and tiramisu


def test_an_order_runs_the_whole_chain_in_one_call(demo_data):
    placed = place(items=[{"menuItemId": "margherita", "quantity": 2}, {"menuItemId": "tiramisu", "quantity": 1}])

    view = placed.view
    assert placed.created
    assert checkpoint_types(view["orderId"]) == HAPPY
    assert view["state"] == "COMPLETED" and view["outcome"] == "COMPLETED"
    assert view["orderTotal"] == "28.75" and view["currency"] == "USD"
    assert [line["lineTotal"] for line in view["lines"]] == ["22.00", "6.75"]
    assert view["stalled"] is None and view["reason"] is None
    assert view["paymentId"].startswith("pay_") and view["courierId"] == "courier-ann"
    assert len(view["checkpoints"]) == sum(HAPPY.values())
    assert LineItem.objects.count() == 2
    assert KitchenTask.objects.filter(task_name="pack").count() == 1


def test_lineage_links_every_checkpoint_back_to_the_order_request(demo_data):
    view = place(items=[{"menuItemId": "margherita", "quantity": 1}, {"menuItemId": "pepperoni", "quantity": 1}]).view
    parents: dict[str, set[str]] = {}
    for link in LineageLink.objects.filter(trace_id=view["orderId"]):
        parents.setdefault(str(link.child_id), set()).add(str(link.parent_id))
    by_id = {c["id"]: c["type"] for c in view["checkpoints"]}
    root = next(i for i, t in by_id.items() if t == "OrderRequest")

    def reaches_root(node: str) -> bool:
        return node == root or any(reaches_root(p) for p in parents.get(node, ()))

    assert all(reaches_root(node) for node in by_id)
    merged = next(i for i, t in by_id.items() if t == "OrderReadyForDispatch")
    assert len(parents[merged]) == 3  # two lines and packing


def test_the_lineage_tree_nests_the_merge_under_its_first_sorted_parent(demo_data):
    view = place().view
    tree = services.lineage(view["orderId"])
    assert tree["type"] == "OrderRequest" and tree["parentIds"] == []

    def walk(node):
        yield node
        for child in node["children"]:
            yield from walk(child)

    nodes = list(walk(tree))
    assert len(nodes) == len(view["checkpoints"])
    merged = next(n for n in nodes if n["type"] == "OrderReadyForDispatch")
    first_task = next(n for n in nodes if n["id"] == merged["parentIds"][0])
    assert merged in first_task["children"] and len(merged["parentIds"]) == 2


def test_the_same_key_and_request_replays_and_a_different_request_conflicts(demo_data):
    first = place(key="same-key")
    again = place(key="same-key")
    assert (first.created, again.created) == (True, False)
    assert again.view["orderId"] == first.view["orderId"]
    with pytest.raises(services.AlreadyExists):
        place(key="same-key", items=[{"menuItemId": "pepperoni", "quantity": 1}])
