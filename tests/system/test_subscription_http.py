"""Remote subscription over HTTP against the server ``make run`` starts: ``manage.py follow`` killed mid-stream and
restarted from its acknowledged position gets every checkpoint exactly once after deduplication; a second stream
beyond the process's cap answers 429; a contract mismatch answers 412 with the lock's diagnostics."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from tests.system.conftest import MakeRun, wait_for

PUBLICATION = "tpfgo.checkout.order-ready.v1"


class Run(MakeRun):
    """``make run`` with one web process (so its cap of one subscriber is the server's) and quick heartbeats."""

    def __init__(self, home: Path) -> None:
        super().__init__(
            home,
            WEB_CONCURRENCY="1",
            TPFGO_SUBSCRIBERS_PER_PROCESS="1",
            TPFGO_SUBSCRIPTION_HEARTBEAT_SECONDS="0.5",
            TPFGO_SUBSCRIPTION_POLL_SECONDS="0.1",
        )

    @property
    def subscriber_token(self) -> str:
        return self.token_of("demo-subscriber")

    def token_of(self, username: str) -> str:
        query = "SELECT t.key FROM authtoken_token t JOIN auth_user u ON u.id = t.user_id WHERE u.username = ?"
        return str(self.rows(query, username)[0][0])

    def post(self, path: str, body: Any, token: str) -> Any:
        request = urllib.request.Request(
            self.url(path),
            data=json.dumps(body).encode(),
            headers={"Authorization": f"Token {token}", "Content-Type": "application/json"},
            method="POST",
        )
        return urllib.request.urlopen(request, timeout=60)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    started = Run(tmp_path_factory.mktemp("make-run"))
    started.start()
    yield started
    started.stop()


def place_orders(run: Run, first: int, count: int) -> None:
    for n in range(first, first + count):
        run.place(f"follow-{n}", items=[{"menuItemId": "margherita", "quantity": 1 + n % 3}])


class Follower:
    """``manage.py follow`` as its own process, printing items to a file."""

    def __init__(self, run: Run, out: Path) -> None:
        self.out = out
        self.handle = out.open("wb")
        self.process = subprocess.Popen(
            [
                *(sys.executable, "manage.py", "follow", PUBLICATION, "--url", run.url("")),
                *("--token", run.subscriber_token),
                *("--subscriber", "warehouse", "--ack-every", "3", "--ack-seconds", "0.2", "--retry-seconds", "0.2"),
            ],
            cwd=settings.BASE_DIR,
            env={**run.env, "DATABASE_URL": f"sqlite:///{run.home / 'follower.sqlite3'}"},
            stdout=self.handle,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def items(self) -> list[dict[str, Any]]:
        found = []
        for raw in self.out.read_text().splitlines():
            try:
                line = json.loads(raw)
            except ValueError:
                continue
            if isinstance(line, dict) and "checkpointId" in line:
                found.append(line)
        return found

    def kill(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=15)
        self.handle.close()

    def stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)
        self.process.wait(timeout=15)
        self.handle.close()


def logged(run: Run) -> dict[str, int]:
    rows = run.rows("SELECT checkpoint_id, seq FROM pipelines_checkpointlog WHERE publication = ?", PUBLICATION)
    return {checkpoint_id.replace("-", ""): seq for checkpoint_id, seq in rows}


def acked(run: Run) -> int:
    return run.rows("SELECT MAX(position) FROM pipelines_subscriberack")[0][0] or 0


def test_a_follower_killed_mid_stream_resumes_from_its_acknowledged_position(run: Run, tmp_path: Path) -> None:
    place_orders(run, 0, 12)
    first = Follower(run, tmp_path / "first.ndjson")
    wait_for(lambda: len(first.items()) >= 7 and acked(run) > 0, 60, "the follower to print and acknowledge", run)
    first.kill()  # no last acknowledgement: whatever it printed after its last one comes again
    position = acked(run)
    place_orders(run, 12, 12)

    # The cap (1 per process) holds while the follower streams: one more subscriber is refused.
    second = Follower(run, tmp_path / "second.ndjson")
    wait_for(lambda: len(logged(run)) == 24 and _covered(run, first, second), 60, "every item to be followed", run)
    with pytest.raises(urllib.error.HTTPError) as full:
        run.post("/api/v1/subscriptions/stream", {"publication": PUBLICATION}, run.subscriber_token)
    assert full.value.code == 429 and full.value.headers["Retry-After"] == "1"
    assert json.load(full.value)["error"]["code"] == "RESOURCE_EXHAUSTED"
    second.stop()

    log = logged(run)
    again = [item for item in second.items() if item["seq"] <= position]
    assert again == []  # nothing acknowledged comes twice
    union = {item["checkpointId"].replace("-", "") for item in first.items() + second.items()}
    assert union == set(log) and len(log) == 24  # every checkpoint, once after deduplication
    assert all(log[item["checkpointId"].replace("-", "")] == item["seq"] for item in first.items() + second.items())
    assert [item["seq"] for item in second.items()] == sorted(item["seq"] for item in second.items())


def _covered(run: Run, *followers: Follower) -> bool:
    seen = {item["checkpointId"].replace("-", "") for follower in followers for item in follower.items()}
    return seen == set(logged(run))


def test_a_contract_mismatch_is_refused_before_the_stream_starts(run: Run) -> None:
    subscribers = run.rows("SELECT COUNT(*) FROM pipelines_subscriber")
    expect = {"contract": "ReadyOrder", "version": 1, "fields": [{"number": 1, "name": "orderId", "type": "string"}]}
    with pytest.raises(urllib.error.HTTPError) as denied:  # subscribing needs its own scope
        run.post("/api/v1/subscriptions/stream", {"publication": PUBLICATION}, run.token_of("demo-ordering-client"))
    assert denied.value.code == 403 and json.load(denied.value)["error"]["code"] == "PERMISSION_DENIED"
    with pytest.raises(urllib.error.HTTPError) as bad:
        run.post("/api/v1/subscriptions/stream", {"publication": PUBLICATION, "expect": expect}, run.subscriber_token)
    assert bad.value.code == 400  # malformed: a field without "required"
    expect["fields"][0]["required"] = True
    with pytest.raises(urllib.error.HTTPError) as refused:
        run.post("/api/v1/subscriptions/stream", {"publication": PUBLICATION, "expect": expect}, run.subscriber_token)
    error = json.load(refused.value)["error"]
    assert refused.value.code == 412 and error["code"] == "FAILED_PRECONDITION"
    assert "field 'orderId' type changed (expected=string actual=uuid)" in error["message"]
    assert run.rows("SELECT COUNT(*) FROM pipelines_subscriber") == subscribers  # a refusal stores nothing
