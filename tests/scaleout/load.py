"""The scale-out test's clients: orders, duplicates on the other node, and accept/cancel/revise races.

Each client is a thread that behaves like a real one: on a connection error, a 5xx or a 429 it sends the same
request again with the same idempotency key (to the other web node after a connection error, as a load balancer
would), up to ``ATTEMPTS`` times. Every answer is recorded in the ``Order`` it belongs to, so the checks afterwards
compare what the database holds with what the clients were told.
"""

from __future__ import annotations

import http.client
import json
import queue
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

ATTEMPTS = 80
ADDRESS = {"street1": "1 Main St", "city": "Oakland", "state": "CA", "zip": "94612"}
AUTO = {"restaurantId": "pizza-roma", "items": [{"menuItemId": "margherita", "quantity": 2}]}
MANUAL = {"restaurantId": "chez-manuel", "items": [{"menuItemId": "omelette", "quantity": 1}]}
REVISED_ITEMS = [{"menuItemId": "crepe", "quantity": 2}]


@dataclass
class Answer:
    status: int  # 0: no answer at all (every attempt failed to connect or was cut)
    body: Any
    attempts: int


@dataclass
class Order:
    """One idempotency key and everything its clients were told."""

    index: int
    key: str
    kind: str  # auto | flaky | manual
    node: int  # the web node the first request goes to
    body: dict[str, Any]
    duplicate: bool = False  # a second client sends the same key and body to the other node
    race: tuple[str, ...] = ()  # manual orders: the two commands sent at once, each to its own node
    placed: list[Answer] = field(default_factory=list)
    commands: dict[str, Answer] = field(default_factory=dict)

    @property
    def order_id(self) -> str | None:
        ids = {a.body["orderId"] for a in self.placed if 200 <= a.status < 300}
        return ids.pop() if len(ids) == 1 else None


def plan(count: int, seed: int, run: str) -> list[Order]:
    """``count`` orders: 55% auto, 15% with a flaky payment (Celery retries), 30% at the manual restaurant with a
    race; 10% of all are also sent by a second client to the other node."""
    rng = random.Random(seed)
    races = [("accept", "cancel"), ("revise", "accept"), ("revise", "cancel"), ("cancel", "accept")]
    orders = []
    for index in range(count):
        roll = rng.random()
        kind = "auto" if roll < 0.55 else "flaky" if roll < 0.70 else "manual"
        body: dict[str, Any] = {"consumerId": rng.choice(["alice", "bob"]), "deliveryAddress": dict(ADDRESS)}
        body.update(MANUAL if kind == "manual" else AUTO)
        if kind == "flaky":
            body["paymentToken"] = "tok_flaky_2"
        order = Order(index, f"chaos-{run}-{index:05d}", kind, index % 2, body)
        order.duplicate = rng.random() < 0.10
        order.race = rng.choice(races) if kind == "manual" else ()
        orders.append(order)
    return orders


class Client:
    """HTTP to the web nodes with a token, retrying like a real client."""

    def __init__(self, ports: list[int], token: str) -> None:
        self.ports, self.token = ports, token

    def call(self, node: int, method: str, path: str, body: Any = None, key: str | None = None) -> Answer:
        headers = {"Authorization": f"Token {self.token}", "Content-Type": "application/json"}
        if key is not None:
            headers["Idempotency-Key"] = key
        payload = None if body is None else json.dumps(body)
        status, answer = 0, None
        for attempt in range(1, ATTEMPTS + 1):
            connection = http.client.HTTPConnection("127.0.0.1", self.ports[node], timeout=60)
            try:
                connection.request(method, path, payload, headers)
                response = connection.getresponse()
                status, text = response.status, response.read()
                answer = json.loads(text) if text else None
                retry_after = response.getheader("Retry-After")
            except (OSError, http.client.HTTPException):
                status, answer, retry_after = 0, None, None
                node = 1 - node  # a load balancer sends the retry to the other node
            finally:
                connection.close()
            if status == 0 or status >= 500 or status == 429:
                time.sleep(min(float(retry_after or 0.25 * attempt), 2.0))
                continue
            return Answer(status, answer, attempt)
        return Answer(status, answer, ATTEMPTS)


def place(client: Client, order: Order, node: int) -> Answer:
    return client.call(node, "POST", "/api/v1/orders", order.body, key=order.key)


def command(client: Client, order: Order, name: str, node: int) -> Answer:
    """One of the race's commands; a 412 that only means "a concurrent revision is being decided" is asked again."""
    order_id = order.order_id
    if order_id is None:  # its clients were told different orderIds: the checks report it
        return Answer(-1, {"error": "the clients of this key were told different orderIds"}, 0)
    if name == "cancel":
        return client.call(node, "POST", f"/api/v1/orders/{order_id}/cancel", {"note": "chaos"})
    if name == "revise":
        path, body = f"/api/v1/orders/{order_id}/revise", {"items": REVISED_ITEMS}
        for _ in range(20):
            answer = client.call(node, "POST", path, body, key=f"{order.key}-revision")
            if answer.status != 412:
                return answer
            time.sleep(0.2)
        return answer
    answer = Answer(0, {"error": "no kitchen ticket to accept"}, 0)
    for _ in range(150):  # in queue mode the ticket is created on a worker after the placement answered
        view = client.call(node, "GET", f"/api/v1/orders/{order_id}")
        ticket = view.body.get("kitchenTicketId") if view.status == 200 else None
        if ticket is None:
            time.sleep(0.2)
            continue
        answer = client.call(node, "POST", f"/api/v1/tickets/{ticket}/accept", {})
        if answer.status != 412:
            return answer
        again = client.call(node, "GET", f"/api/v1/orders/{order_id}")
        if again.status == 200 and again.body["state"] != "AWAITING_ACCEPTANCE":
            return answer  # decided otherwise: the race is lost
        time.sleep(0.2)
    return answer


class Load:
    """16 client threads taking jobs from one queue; ``progress`` counts the orders whose placement was answered."""

    def __init__(self, client: Client, orders: list[Order], clients: int = 16) -> None:
        self.client, self.orders, self.clients = client, orders, clients
        self.jobs: queue.Queue[Callable[[], None] | None] = queue.Queue()
        self.lock = threading.Lock()
        self.placed = 0
        self.errors: list[str] = []

    def run(self) -> None:
        threads = [threading.Thread(target=self._client, daemon=True) for _ in range(self.clients)]
        for thread in threads:
            thread.start()
        for order in self.orders:
            self.jobs.put(lambda order=order: self._place(order))  # type: ignore[misc]
            if order.duplicate:
                self.jobs.put(lambda order=order: self._duplicate(order))  # type: ignore[misc]
        self.jobs.join()
        for _ in threads:
            self.jobs.put(None)
        for thread in threads:
            thread.join()

    def _client(self) -> None:
        while (job := self.jobs.get()) is not None:
            try:
                job()
            except Exception as exc:  # a client's bug is reported, not swallowed into a hang
                with self.lock:
                    self.errors.append(repr(exc))
            finally:
                self.jobs.task_done()

    def _place(self, order: Order) -> None:
        answer = place(self.client, order, order.node)
        with self.lock:
            order.placed.append(answer)
            self.placed += 1
        if order.race and order.order_id is not None:
            first, second = order.race
            # Queued together, so two clients send them at once, each to its own node.
            self.jobs.put(lambda: self._command(order, first, order.node))
            self.jobs.put(lambda: self._command(order, second, 1 - order.node))

    def _duplicate(self, order: Order) -> None:
        answer = place(self.client, order, 1 - order.node)
        with self.lock:
            order.placed.append(answer)

    def _command(self, order: Order, name: str, node: int) -> None:
        answer = command(self.client, order, name, node)
        with self.lock:
            order.commands[name] = answer
