"""TPFGo's filesystem transport (``tpfgo_site/filesystem_broker.py``) against kombu's own, at the one point they differ.

A publisher is held half-way through writing a message (its payload's serialization waits), and a consumer polls
the queue then. On TPFGo's transport the queue is empty until the message is whole, and the consumer then gets it;
on kombu's the consumer reads the message's file empty (a ``JSONDecodeError``: a worker stops on it) and the
message is lost. The second half is a canary: the day kombu writes its files whole, it fails, and the contained fix
can go.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from queue import Empty

import pytest
from celery import current_app
from kombu import Connection
from kombu.transport import filesystem as kombu_filesystem
from kombu.utils import json as kombu_json

from tpfgo_site.filesystem_broker import Transport


class _Held:
    """A payload part whose serialization waits until the test lets it go (while the publisher writes)."""

    started = threading.Event()
    go = threading.Event()

    def encoded(self) -> str:
        _Held.started.set()
        assert _Held.go.wait(10), "the test never let the publisher go on"
        return "held"


@pytest.fixture
def held() -> Iterator[type[_Held]]:
    kombu_json.register_type(_Held, "tpfgo-test-held", _Held.encoded, str)
    _Held.started.clear()
    _Held.go.clear()
    yield _Held
    _Held.go.set()
    kombu_json._encoders.pop(_Held, None)
    kombu_json._decoders.pop("tpfgo-test-held", None)


def _channel(transport: type, folder: Path) -> Connection:
    options = {"data_folder_in": str(folder), "data_folder_out": str(folder)}
    return Connection("filesystem://", transport=transport, transport_options=options)


def test_a_message_is_read_only_once_it_is_whole(tmp_path: Path, held: type[_Held]) -> None:
    with _channel(Transport, tmp_path) as connection:
        channel = connection.default_channel
        publisher = threading.Thread(target=channel._put, args=("orders", {"n": 1, "part": _Held()}))
        publisher.start()
        assert held.started.wait(10)
        with pytest.raises(Empty):  # the half-written message is not there yet
            channel._get("orders")
        held.go.set()
        publisher.join(10)
        assert channel._get("orders") == {"n": 1, "part": "held"}
        with pytest.raises(Empty):
            channel._get("orders")
    assert list(tmp_path.iterdir()) == []  # nothing half-written left behind


def test_kombus_own_transport_reads_a_half_written_message_empty_and_loses_it(
    tmp_path: Path, held: type[_Held]
) -> None:
    with _channel(kombu_filesystem.Transport, tmp_path) as connection:
        channel = connection.default_channel
        publisher = threading.Thread(target=channel._put, args=("orders", {"n": 1, "part": _Held()}))
        publisher.start()
        assert held.started.wait(10)
        with pytest.raises(ValueError, match="Expecting value"):  # what stopped the worker
            channel._get("orders")
        held.go.set()
        publisher.join(10)
        with pytest.raises(Empty):  # written into the file the consumer had already taken away
            channel._get("orders")


def test_the_embedded_broker_runs_tpfgos_transport(settings: object) -> None:
    if current_app.conf.broker_url != "filesystem://":
        pytest.skip("this run's broker is not the embedded filesystem broker")
    with current_app.connection_for_write() as connection:
        assert type(connection.transport) is Transport
