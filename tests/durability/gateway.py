"""The payment gateway simulator of the durability crash test (the process edge): it records every call it answers
and, when the test asks, crashes right after one.

Every answered call is one JSON line appended to ``$TPFGO_TEST_GATEWAY_LOG`` (``op``, ``order``, the parameters
that must not change for the same key). ``$TPFGO_TEST_CRASH_FILE``, when it exists, names a crash and the call it
follows (``pg authorize``: stop the database with ``$TPFGO_TEST_PG_STOP``, a JSON argv; ``kill capture``: SIGKILL
this process; ``killgroup authorize``: SIGKILL this process's whole group, a worker with its main process, as when
its host dies); it is removed first, so it fires once.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import uuid
from decimal import Decimal

from checkout.payments import Authorization, Capture, SimulatedGateway


def _record(op: str, order_id: uuid.UUID, **params: str) -> None:
    line = json.dumps({"op": op, "order": str(order_id), "params": params}) + "\n"
    fd = os.open(os.environ["TPFGO_TEST_GATEWAY_LOG"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())  # one write on an O_APPEND file: a line is whole even if the process dies next
    finally:
        os.close(fd)


def _crash_after(op: str) -> None:
    path = os.environ.get("TPFGO_TEST_CRASH_FILE", "")
    try:
        with open(path) as trigger:
            how, after = trigger.read().split()
    except (FileNotFoundError, ValueError):
        return
    if after != op:
        return
    os.remove(path)
    if how == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    if how == "killgroup":
        os.killpg(os.getpgrp(), signal.SIGKILL)
    subprocess.run(json.loads(os.environ["TPFGO_TEST_PG_STOP"]), check=True, capture_output=True, timeout=60)


class CrashingGateway(SimulatedGateway):
    def authorize(self, order_id: uuid.UUID, amount: Decimal, currency: str, token: str, attempt: int) -> Authorization:
        result = super().authorize(order_id, amount, currency, token, attempt)
        _record("authorize", order_id, amount=str(amount), currency=currency, token=token)
        _crash_after("authorize")
        return result

    def capture(
        self, order_id: uuid.UUID, authorization_id: str, amount: Decimal, token: str, attempt: int, key: str = ""
    ) -> Capture:
        result = super().capture(order_id, authorization_id, amount, token, attempt, key)
        _record("capture", order_id, key=key, amount=str(amount), authorization=authorization_id)
        _crash_after("capture")
        return result
